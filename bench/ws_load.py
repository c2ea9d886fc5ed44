"""Load test of the dashboard socket: N concurrent dashboards, K writes, commit-to-screen latency.

    .venv/bin/python bench/ws_load.py --connections 1000 --writes 200

against a server already running on this machine (``make serve``, or ``uvicorn config.asgi:application``)
with the same ``DATABASE_URL`` and ``REDIS_URL`` as this script. It:

1. creates its own schools and users in the database (one owner/admin or teacher per connection, emails
   under ``@ws-load.invalid``, deleted again at the end) and a bearer token for each;
2. opens one authenticated WebSocket per user against the server (``--url``, 127.0.0.1 only);
3. commits ``--writes`` events, each about one teacher of one school, from this process: ``event_emit``
   in a transaction of its own, exactly what a write service does (there is no HTTP endpoint that only
   emits an event; a write in another web process is what this stands for). The commit time is taken
   by an on-commit hook that runs before the event is published;
4. records when each connection that should hear an event (the school's staff, the event's teacher)
   receives it, and checks that every such delivery came, once, in id order.

It prints a JSON summary: connection time, deliveries expected and received, missing, duplicated and
out-of-order deliveries (all three must be 0), and the latency from commit to arrival (p50, p90, p99, max).
Without ``REDIS_URL`` the server and this script share no channel layer, so the server learns of a write
only at its next poll (every 10 s): run it on PostgreSQL and Redis, or on SQLite with Redis, for the
latency of the nudge path. Everything is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
EMAIL_DOMAIN = "ws-load.invalid"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass
class Listener:
    user_id: int
    token: str
    staff_of: int | None = None  # a school whose every event this user hears
    teaches_in: int | None = None  # a school where this user hears the events about themselves


@dataclass
class Results:
    commit_at: dict[int, float] = field(default_factory=dict)
    received: dict[int, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    connected: int = 0
    refused: int = 0


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()


def raise_open_files_limit(needed: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def cleanup() -> None:
    from chalkboard.accounts.models import User
    from chalkboard.schools.models import School

    School.objects.filter(name__startswith="ws-load ").delete()
    User.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}").delete()


def create_listeners(connections: int, schools: int, staff_per_school: int) -> list[Listener]:
    """One user per connection, spread over ``schools``: ``staff_per_school`` admins each, the rest teachers."""
    from knox.models import AuthToken

    from chalkboard.accounts.models import User
    from chalkboard.schools.models import Membership, Role, School

    cleanup()
    created = School.objects.bulk_create([School(name=f"ws-load {i}") for i in range(schools)])
    users = []
    for i in range(connections):
        user = User(email=f"user{i}@{EMAIL_DOMAIN}", full_name=f"Load {i}")
        user.set_unusable_password()
        users.append(user)
    users = User.objects.bulk_create(users)
    listeners, memberships = [], []
    for i, user in enumerate(users):
        school = created[i % schools]
        is_staff = (i // schools) < staff_per_school
        role = Role.ADMIN if is_staff else Role.TEACHER
        memberships.append(Membership(user=user, school=school, role=role))
        _, token = AuthToken.objects.create(user=user)
        listeners.append(
            Listener(
                user_id=user.pk,
                token=token,
                staff_of=school.pk if is_staff else None,
                teaches_in=None if is_staff else school.pk,
            )
        )
    Membership.objects.bulk_create(memberships)
    return listeners


def write_one(school_id: int, teacher_id: int, results: Results) -> int:
    from django.db import transaction

    from chalkboard.realtime.models import EventType
    from chalkboard.realtime.services import event_emit

    stamp: dict[str, float] = {}
    with transaction.atomic():
        # Registered first, so it runs right after COMMIT and before the event is published.
        transaction.on_commit(lambda: stamp.setdefault("at", time.perf_counter()))
        event = event_emit(
            type=EventType.SESSION_UPDATED, school_id=school_id, teacher_id=teacher_id, data={"load": True}
        )
    results.commit_at[event.pk] = stamp["at"]
    return event.pk


async def listen(ws: ClientConnection, index: int, results: Results) -> None:
    async for raw in ws:
        message = json.loads(raw)
        if "id" in message and message.get("type") not in ("resync", "error", "pong"):
            results.received[index].append((message["id"], time.perf_counter()))


async def open_all(url: str, listeners: list[Listener], parallel: int, results: Results) -> list[ClientConnection]:
    gate = asyncio.Semaphore(parallel)
    sockets: list[ClientConnection | None] = [None] * len(listeners)

    async def open_one(index: int, listener: Listener) -> None:
        async with gate:
            try:
                sockets[index] = await connect(
                    url,
                    additional_headers={"Authorization": f"Bearer {listener.token}"},
                    compression=None,
                    open_timeout=30,
                )
                results.connected += 1
            except Exception:
                results.refused += 1

    await asyncio.gather(*(open_one(i, listener) for i, listener in enumerate(listeners)))
    return [ws for ws in sockets if ws is not None]


def expected(listeners: list[Listener], writes: list[tuple[int, int, int]]) -> dict[int, list[int]]:
    """For each listener index, the event ids it must receive, in order."""
    by_index: dict[int, list[int]] = defaultdict(list)
    for event_id, school_id, teacher_id in sorted(writes):
        for index, listener in enumerate(listeners):
            if listener.staff_of == school_id or (listener.teaches_in == school_id and listener.user_id == teacher_id):
                by_index[index].append(event_id)
    return by_index


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.db import connection

    results = Results()
    listeners = await sync_to_async(create_listeners)(args.connections, args.schools, args.staff_per_school)
    teachers = [(lst.teaches_in, lst.user_id) for lst in listeners if lst.teaches_in is not None]
    ws_url = f"{args.url.rstrip('/').replace('http', 'ws', 1)}/ws/dashboard/"
    started = time.perf_counter()
    sockets = await open_all(ws_url, listeners, args.parallel_connects, results)
    connect_seconds = time.perf_counter() - started
    readers = [asyncio.create_task(listen(ws, i, results)) for i, ws in enumerate(sockets)]
    await asyncio.sleep(1)  # let every connection settle before the first write

    rng = random.Random(args.seed)
    writes: list[tuple[int, int, int]] = []
    for _ in range(args.writes):
        school_id, teacher_id = rng.choice(teachers)
        event_id = await sync_to_async(write_one, thread_sensitive=False)(school_id, teacher_id, results)
        writes.append((event_id, school_id, teacher_id))
        await asyncio.sleep(args.interval)

    want = expected(listeners, writes)
    total = sum(len(ids) for ids in want.values())
    deadline = time.perf_counter() + args.settle
    while time.perf_counter() < deadline:
        if sum(min(len(results.received[i]), len(ids)) for i, ids in want.items()) >= total:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # anything extra (a duplicate, a foreign event) shows up here

    latencies, missing, duplicates, out_of_order, foreign = [], 0, 0, 0, 0
    for index in range(len(sockets)):
        got = [event_id for event_id, _ in results.received[index]]
        wanted = want.get(index, [])
        missing += len(set(wanted) - set(got))
        duplicates += len(got) - len(set(got))
        foreign += len(set(got) - set(wanted))
        out_of_order += sum(1 for a, b in itertools.pairwise(got) if b <= a)
        for event_id, arrived in results.received[index]:
            if event_id in results.commit_at:
                latencies.append((arrived - results.commit_at[event_id]) * 1000)

    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await asyncio.gather(*readers, return_exceptions=True)
    layer = str(settings.CHANNEL_LAYERS["default"]["BACKEND"]).rsplit(".", 1)[-1]
    return {
        "server": args.url,
        "database": connection.vendor,
        "channel_layer": layer,
        "connections": args.connections,
        "connected": results.connected,
        "refused": results.refused,
        "connect_seconds": round(connect_seconds, 2),
        "writes": len(writes),
        "deliveries_expected": total,
        "deliveries_received": len(latencies),
        "missing": missing,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "foreign": foreign,
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50), 1) if latencies else None,
            "p90": round(percentile(latencies, 0.90), 1) if latencies else None,
            "p99": round(percentile(latencies, 0.99), 1) if latencies else None,
            "max": round(max(latencies), 1) if latencies else None,
            "mean": round(statistics.fmean(latencies), 1) if latencies else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running server (this machine only)")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--schools", type=int, default=10)
    parser.add_argument("--staff-per-school", type=int, default=5)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between writes")
    parser.add_argument("--parallel-connects", type=int, default=50)
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to wait for the last deliveries")
    parser.add_argument("--timeout", type=float, default=300.0, help="the whole run, in seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the created schools and users")
    args = parser.parse_args()

    host = urlsplit(args.url).hostname or ""
    if host not in LOCAL_HOSTS:
        parser.error("--url must be a server on this machine (127.0.0.1 or localhost)")
    if not 1 <= args.connections <= 20_000 or args.schools < 1 or args.staff_per_school < 1:
        parser.error("--connections must be 1..20000, --schools and --staff-per-school at least 1")
    if args.connections < args.schools * (args.staff_per_school + 1):
        parser.error("each school needs its staff and at least one teacher: raise --connections")
    soft, hard = raise_open_files_limit(args.connections + 256)
    if soft != resource.RLIM_INFINITY and soft < args.connections + 64:
        parser.error(f"open files limit {soft} (hard {hard}) is too low for {args.connections} connections")

    django_setup()

    async def bounded() -> dict[str, Any]:
        async with asyncio.timeout(args.timeout):
            return await run(args)

    try:
        summary = asyncio.run(bounded())
        summary["open_files_limit"] = soft
        print(json.dumps(summary, indent=2))
    finally:
        if not args.keep:
            cleanup()


if __name__ == "__main__":
    main()
