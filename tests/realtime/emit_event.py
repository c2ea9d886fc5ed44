"""Emit one event from a process of its own, as a write in another web process would, and print its id.

    python -m tests.realtime.emit_event --school 3 --teacher 7 --type session.completed

Uses the database and Redis of the environment (``DATABASE_URL``, ``REDIS_URL``). The live-server test runs
it so that the write, the socket and the reader are three different processes.
"""

from __future__ import annotations

import argparse
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--school", type=int, required=True)
    parser.add_argument("--teacher", type=int)
    parser.add_argument("--type", default="session.updated")
    parser.add_argument("--data", default="{}", help="JSON object")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.db import transaction

    from chalkboard.realtime.models import EventType
    from chalkboard.realtime.services import event_emit

    with transaction.atomic():
        event = event_emit(
            type=EventType(args.type), school_id=args.school, teacher_id=args.teacher, data=json.loads(args.data)
        )
    print(json.dumps({"id": event.pk}))


if __name__ == "__main__":
    main()
