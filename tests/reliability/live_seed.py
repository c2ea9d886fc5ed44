"""Seeds the live server's database for the worker-kill test: one school, a teacher with a rate, a student,
a session that started an hour ago, and a bearer token of the teacher. Prints them as JSON.

Run as ``python -m tests.reliability.live_seed`` with the live database's ``DATABASE_URL``."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    from django.utils import timezone

    from chalkboard.accounts.services import token_create
    from tests import factories as f

    school = f.SchoolFactory()
    teacher = f.teacher_in(school)
    student = f.student_in(school)
    session = f.session_for(teacher, student, starts_at=timezone.now() - timedelta(hours=1))
    token, _ = token_create(user=teacher.user)
    print(json.dumps({"token": token, "session_id": session.pk, "student_id": student.pk}))


if __name__ == "__main__":
    main()
