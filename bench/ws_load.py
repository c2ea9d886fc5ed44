"""Load test of the dashboard socket: N dashboards connected, K sessions completed over HTTP, and the time
from each completion request to its ``session.completed`` on every screen that should show it.

    .venv/bin/python bench/ws_load.py --http http://127.0.0.1:8000 --ws ws://127.0.0.1:8001

against servers already running on this machine (``bin/serve-production``: the HTTP API on ``$PORT``, the
sockets on ``$WS_PORT``), with the same ``DATABASE_URL``, ``REDIS_URL`` and ``DJANGO_SETTINGS_MODULE`` as this
script. It:

1. creates, directly in the database, its own schools (names starting ``ws-load``), each with an owner,
   admins, teachers with an hourly rate, students and one subject; one owner, admin or teacher per
   connection (emails under ``@ws-load.invalid``), and a bearer token for each (``token_create``);
2. creates ``--warm-writes`` + ``--writes`` scheduled sessions that started in the past, each of a teacher
   picked at random with one of their school's students;
3. opens one authenticated WebSocket per user against ``--ws`` (``/ws/dashboard/``), and waits ``--warmup``
   seconds, so that every connection has made its first poll of the log before the writes begin;
4. completes the sessions one by one, ``--rate`` per second, each by its teacher with
   ``POST /api/sessions/{id}/complete/`` against ``--http``: the real write path, in another process. The
   first ``--warm-writes`` warm the HTTP workers (a worker's first completion loads code and opens
   connections): their deliveries are checked like the others', but they are not timed;
5. records when each connection that should hear a completion (the school's owner and admins, the session's
   teacher) receives its ``session.completed`` and ``earnings.updated``, and checks that every such
   delivery came, once, in id order, and that nobody heard anything else.

Latency runs from the moment the request is sent (its TCP connection already open) to the arrival of
``session.completed`` at each connection: it covers the request, the commit, the nudge through Redis, the
socket server's read of the log and the send. Everything it created (tokens, users, schools, sessions,
earnings, events, cache versions) is deleted at the end, unless ``--keep``. The JSON summary is the last
line of stdout; progress goes to stderr. Everything is bounded by ``--timeout``; it talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import itertools
import json
import os
import random
import resource
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
EMAIL_DOMAIN = "ws-load.invalid"
SCHOOL_PREFIX = "ws-load "
HOST = "127.0.0.1"
DASHBOARD_PATH = "/ws/dashboard/"
STUDENTS_PER_SCHOOL = 5
HOURLY_RATE = Decimal("30.00")
ENVELOPE = {"id", "type", "occurred_at", "school_id", "teacher_id", "data"}
COMPLETED, EARNINGS = "session.completed", "earnings.updated"
Delivery = tuple[str, int]  # an event's type, and its session (session.completed) or entry (earnings.updated)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the data it creates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    """One connection's user: an owner or admin hears every event of the school, a teacher their own."""

    user_id: int
    token: str
    school_id: int
    is_staff: bool

    def hears(self, *, school_id: int, teacher_id: int) -> bool:
        return self.school_id == school_id and (self.is_staff or self.user_id == teacher_id)


@dataclass(frozen=True)
class Write:
    """One completion to send: a started session of ``teacher_id``, completed by them."""

    session_id: int
    school_id: int
    teacher_id: int
    token: str
    body: bytes


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()


def cleanup() -> dict[str, int]:
    """Delete what a run created (or an interrupted run left), in an order the PROTECT keys allow: earnings
    (adjustments first), payouts, sessions (with their seats and notes), then the schools (memberships,
    subjects, students, rates, events, activity) and the users (teachers, tokens); then the cache versions."""
    from django.core.cache import cache
    from django.db import transaction

    from chalkboard.accounts.models import User
    from chalkboard.common.cache import school_scope, student_scope, teacher_scope, user_scope
    from chalkboard.earnings.models import EarningEntry, Payout
    from chalkboard.people.models import Student, TeacherRate
    from chalkboard.realtime.models import Event
    from chalkboard.scheduling.models import Session
    from chalkboard.schools.models import School

    schools = School.objects.filter(name__startswith=SCHOOL_PREFIX)
    users = User.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}")
    school_ids = list(schools.values_list("id", flat=True))
    user_ids = list(users.values_list("id", flat=True))
    scopes = [school_scope(pk) for pk in school_ids] + [user_scope(pk) for pk in user_ids]
    scopes += [f"viewer:{pk}" for pk in user_ids]
    rated = TeacherRate.objects.filter(school_id__in=school_ids).values_list("teacher_id", "school_id")
    scopes += [teacher_scope(teacher_id, school_id) for teacher_id, school_id in rated]
    students = Student.objects.filter(school_id__in=school_ids).values_list("id", flat=True)
    scopes += [student_scope(student_id) for student_id in students]
    deleted = {"events": Event.objects.filter(school_id__in=school_ids).count()}
    with transaction.atomic():
        EarningEntry.objects.filter(school_id__in=school_ids, adjusts__isnull=False).delete()
        deleted["earnings"], _ = EarningEntry.objects.filter(school_id__in=school_ids).delete()
        Payout.objects.filter(school_id__in=school_ids).delete()
        deleted["sessions"] = Session.objects.filter(school_id__in=school_ids).count()
        Session.objects.filter(school_id__in=school_ids).delete()
        deleted["schools"] = len(school_ids)
        schools.delete()
        deleted["users"] = len(user_ids)
        users.delete()
    try:
        cache.delete_many(scopes)
    except Exception:  # the versions expire on their own; ids are never reused
        log("could not delete the cache versions of the created users and schools")
    return deleted


def people_create(args: argparse.Namespace) -> tuple[list[Listener], dict[int, list[int]], dict[int, int]]:
    """Schools with one listener per connection (an owner, ``--staff-per-school - 1`` admins, the rest
    teachers with a default rate) and a few students; the students and the subject of each school."""
    from chalkboard.accounts.models import User
    from chalkboard.accounts.services import token_create
    from chalkboard.people.models import Student, Teacher, TeacherRate
    from chalkboard.schools.models import Membership, Role, School, Subject

    schools = School.objects.bulk_create(
        [School(name=f"{SCHOOL_PREFIX}{i}", timezone="UTC", currency="EUR") for i in range(args.schools)]
    )
    subjects = Subject.objects.bulk_create([Subject(school=school, name="Mathematics") for school in schools])
    drafts = [User(email=f"user{i}@{EMAIL_DOMAIN}", full_name=f"Load {i}") for i in range(args.connections)]
    drafts += [
        User(email=f"student{i}@{EMAIL_DOMAIN}", full_name=f"Pupil {i}")
        for i in range(args.schools * STUDENTS_PER_SCHOOL)
    ]
    for user in drafts:
        user.set_unusable_password()
    users = User.objects.bulk_create(drafts)
    members, pupils = users[: args.connections], users[args.connections :]

    memberships, teachers, rates, listeners = [], [], [], []
    for i, user in enumerate(members):
        school, rank = schools[i % args.schools], i // args.schools
        role = Role.OWNER if rank == 0 else Role.ADMIN if rank < args.staff_per_school else Role.TEACHER
        memberships.append(Membership(user=user, school=school, role=role))
        if role == Role.TEACHER:
            teachers.append(Teacher(user=user))
            rates.append(TeacherRate(teacher_id=user.pk, school=school, hourly_rate=HOURLY_RATE))
        token, _ = token_create(user=user)
        listeners.append(Listener(user_id=user.pk, token=token, school_id=school.pk, is_staff=role != Role.TEACHER))
    students = []
    for i, user in enumerate(pupils):
        school = schools[i % args.schools]
        memberships.append(Membership(user=user, school=school, role=Role.STUDENT))
        students.append(Student(school=school, user=user))
    Membership.objects.bulk_create(memberships)
    Teacher.objects.bulk_create(teachers)
    TeacherRate.objects.bulk_create(rates)
    students_of: dict[int, list[int]] = defaultdict(list)
    for student in Student.objects.bulk_create(students):
        students_of[student.school_id].append(student.pk)
    return listeners, students_of, {subject.school_id: subject.pk for subject in subjects}


def fixture_create(args: argparse.Namespace) -> tuple[list[Listener], list[Write]]:
    """The people (see ``people_create``) and ``--writes`` scheduled sessions that started in the past, each of
    a random teacher with one of their school's students, with the completion request of each."""
    from django.db import transaction

    from chalkboard.scheduling.models import Session, SessionStudent

    rng = random.Random(args.seed)
    cleanup()
    with transaction.atomic():
        listeners, students_of, subject_of = people_create(args)
        teachers = [listener for listener in listeners if not listener.is_staff]
        now = datetime.now(UTC)
        planned = []
        for _ in range(args.warm_writes + args.writes):
            teacher = rng.choice(teachers)
            session = Session(
                school_id=teacher.school_id,
                teacher_id=teacher.user_id,
                subject_id=subject_of[teacher.school_id],
                starts_at=now - timedelta(days=rng.randint(1, 30), minutes=rng.randint(0, 1439)),
                planned_duration_minutes=60,
            )
            planned.append((session, teacher, rng.choice(students_of[teacher.school_id])))
        sessions = Session.objects.bulk_create([session for session, _, _ in planned])
        SessionStudent.objects.bulk_create(
            [SessionStudent(session=s, student_id=sid) for s, (_, _, sid) in zip(sessions, planned, strict=True)]
        )
    writes = []
    for session, (_, teacher, student_id) in zip(sessions, planned, strict=True):
        body = {
            "attendance": [{"student_id": student_id, "status": "present"}],
            "actual_duration_minutes": rng.choice([45, 50, 55, 60]),
            "notes": [{"visibility": "shared", "text": "Worked through the exercises."}],
        }
        writes.append(Write(session.pk, teacher.school_id, teacher.user_id, teacher.token, json.dumps(body).encode()))
    return listeners, writes


# --- what it measures -------------------------------------------------------------------------------


@dataclass
class Arrival:
    event_id: int
    type: str
    ref: int | None  # the session id of a session.completed, the entry id of an earnings.updated
    at: float


@dataclass(frozen=True)
class Sample:
    """One ``session.completed`` at one connection: from its request, and from its answer (negative when the
    event came first: it is published on commit, before the response is written)."""

    session_id: int
    connection: int
    sent_at: float
    latency_ms: float
    after_answer_ms: float


@dataclass
class Results:
    sent_at: dict[int, float] = field(default_factory=dict)  # session id -> when its completion was sent
    answered_at: dict[int, float] = field(default_factory=dict)  # session id -> when its answer had arrived
    earning_of: dict[int, int] = field(default_factory=dict)  # session id -> its earning entry, once answered
    http_ms: list[float] = field(default_factory=list)
    warm: set[int] = field(default_factory=set)  # sessions of the warm-up writes: checked, not timed
    http_errors: Counter[str] = field(default_factory=Counter)
    arrivals: dict[int, list[Arrival]] = field(default_factory=lambda: defaultdict(list))
    other_messages: Counter[str] = field(default_factory=Counter)  # resync, error, or not an event at all
    handshake_ms: list[float] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)  # connections the server closed, by close code
    closing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)  # the request threads count errors

    def http_error(self, kind: str) -> None:
        with self.lock:
            self.http_errors[kind] += 1


def complete_over_http(http_url: str, write: Write, results: Results) -> None:
    """POST the completion; runs in a worker thread. The clock starts once the TCP connection is open."""
    target = urlsplit(http_url)
    connection = http.client.HTTPConnection(HOST, target.port or 80, timeout=30)
    try:
        connection.connect()
        results.sent_at[write.session_id] = sent = time.perf_counter()
        connection.request(
            "POST",
            f"{target.path.rstrip('/')}/api/sessions/{write.session_id}/complete/",
            body=write.body,
            headers={"Authorization": f"Bearer {write.token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        payload = response.read()
        results.answered_at[write.session_id] = answered = time.perf_counter()
        if write.session_id not in results.warm:
            results.http_ms.append((answered - sent) * 1000)
        if response.status != 200:
            results.http_error(f"HTTP {response.status}")
            return
        earning = json.loads(payload).get("earning") or {}
        results.earning_of[write.session_id] = int(earning["id"])
    except Exception as error:
        results.http_error(type(error).__name__)
    finally:
        connection.close()


def arrival_of(message: Any, at: float) -> Arrival | None:
    if not isinstance(message, dict) or set(message) != ENVELOPE:
        return None
    data = message["data"] if isinstance(message["data"], dict) else {}
    ref = None
    if message["type"] == COMPLETED:
        ref = (data.get("session") or {}).get("id")
    elif message["type"] == EARNINGS and len(data.get("entry_ids") or []) == 1:
        ref = data["entry_ids"][0]
    return Arrival(int(message["id"]), str(message["type"]), ref, at)


async def listen(ws: ClientConnection, index: int, results: Results) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            at = time.perf_counter()
            message = json.loads(raw)
            arrival = arrival_of(message, at)
            if arrival is None:
                kind = message.get("type") if isinstance(message, dict) else None
                results.other_messages[str(kind)] += 1
            else:
                results.arrivals[index].append(arrival)
    if not results.closing:
        results.dropped[str(ws.close_code)] += 1


async def open_all(url: str, listeners: list[Listener], parallel: int, results: Results) -> dict[int, ClientConnection]:
    """One connection per listener, ``parallel`` handshakes at a time; the open ones by listener index."""
    gate = asyncio.Semaphore(parallel)
    sockets: list[ClientConnection | None] = [None] * len(listeners)

    async def open_one(index: int, listener: Listener) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                sockets[index] = await connect(
                    url,
                    additional_headers={"Authorization": f"Bearer {listener.token}"},
                    compression=None,
                    open_timeout=30,
                )
                results.handshake_ms.append((time.perf_counter() - started) * 1000)
            except Exception as error:
                results.refused[type(error).__name__] += 1

    await asyncio.gather(*(open_one(i, listener) for i, listener in enumerate(listeners)))
    return {index: ws for index, ws in enumerate(sockets) if ws is not None}


async def send_writes(args: argparse.Namespace, writes: list[Write], results: Results) -> None:
    """Send the completions at ``--rate`` per second (an open loop: a slow answer does not delay the next
    request, up to ``--http-concurrency`` requests in flight); returns once every one is answered."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.http_concurrency, thread_name_prefix="complete") as pool:
        pending = []
        for n, write in enumerate(writes):
            delay = started + n / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(loop.run_in_executor(pool, complete_over_http, args.http, write, results))
        await asyncio.gather(*pending)


def wanted_by(connected: dict[int, Listener], writes: list[Write], results: Results) -> dict[int, set[Delivery]]:
    """For each open connection, the deliveries it must receive: those of each completion that succeeded and
    that it hears."""
    wanted: dict[int, set[Delivery]] = {index: set() for index in connected}
    for write in writes:
        entry_id = results.earning_of.get(write.session_id)
        if entry_id is None:
            continue
        for index, listener in connected.items():
            if listener.hears(school_id=write.school_id, teacher_id=write.teacher_id):
                wanted[index] |= {(COMPLETED, write.session_id), (EARNINGS, entry_id)}
    return wanted


def received_by(results: Results, index: int) -> set[Delivery]:
    return {(a.type, a.ref) for a in results.arrivals[index] if a.ref is not None}


async def settle(wanted: dict[int, set[Delivery]], results: Results, seconds: float) -> None:
    """Wait until every wanted delivery arrived, or ``seconds``; then a little longer, for anything extra."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if all(want <= received_by(results, index) for index, want in wanted.items()):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)


def tally(
    connected: dict[int, Listener], writes: list[Write], wanted: dict[int, set[Delivery]], results: Results
) -> tuple[Counter[str], list[Sample]]:
    """Deliveries, errors, and the latency of each ``session.completed`` at each connection that hears it."""
    entitled: dict[int, set[Delivery]] = {index: set() for index in connected}
    for write in writes:  # a completion whose answer was lost may still have committed: not foreign
        for index, listener in connected.items():
            if listener.hears(school_id=write.school_id, teacher_id=write.teacher_id):
                entitled[index].add((COMPLETED, write.session_id))
                if write.session_id in results.earning_of:
                    entitled[index].add((EARNINGS, results.earning_of[write.session_id]))
    counts: Counter[str] = Counter()
    samples: list[Sample] = []
    for index, want in wanted.items():
        arrivals = results.arrivals[index]
        got = Counter((a.type, a.ref) for a in arrivals)
        for kind in (COMPLETED, EARNINGS):
            counts[f"{kind} expected"] += sum(1 for w in want if w[0] == kind)
            counts[f"{kind} received"] += sum(1 for w in want if w[0] == kind and got[w])
        counts["missing"] += sum(1 for w in want if not got[w])
        counts["duplicates"] += len(arrivals) - len({a.event_id for a in arrivals})
        counts["foreign"] += sum(1 for a in arrivals if (a.type, a.ref) not in entitled[index])
        counts["out_of_order"] += sum(1 for a, b in itertools.pairwise(arrivals) if b.event_id <= a.event_id)
        first_arrival: dict[int | None, float] = {}
        for a in arrivals:
            if a.type == COMPLETED:
                first_arrival.setdefault(a.ref, a.at)
        for session_id, at in first_arrival.items():
            if session_id is not None and (COMPLETED, session_id) in want and session_id not in results.warm:
                sent, answered = results.sent_at[session_id], results.answered_at[session_id]
                samples.append(Sample(session_id, index, sent, (at - sent) * 1000, (at - answered) * 1000))
    return counts, samples


def samples_write(path: Path, samples: list[Sample]) -> None:
    """One line per delivery of a ``session.completed``, in the order the requests were sent."""
    first = min((sample.sent_at for sample in samples), default=0.0)
    rows = [
        f"{s.sent_at - first:.3f},{s.session_id},{s.connection},{s.latency_ms:.1f},{s.after_answer_ms:.1f}"
        for s in sorted(samples, key=lambda sample: (sample.sent_at, sample.connection))
    ]
    path.write_text("\n".join(["sent_s,session_id,connection,latency_ms,after_answer_ms", *rows]) + "\n")


def sent_rate(results: Results) -> float | None:
    """Timed completions sent per second, first to last request."""
    sent = sorted(at for session_id, at in results.sent_at.items() if session_id not in results.warm)
    return round((len(sent) - 1) / (sent[-1] - sent[0]), 1) if len(sent) > 1 and sent[-1] > sent[0] else None


def percentiles(values: list[float], *, mean: bool = False) -> dict[str, float | None]:
    ordered = sorted(values)

    def at(share: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))], 1) if ordered else None

    figures = {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0)}
    if mean:
        figures["mean"] = round(statistics.fmean(ordered), 1) if ordered else None
    return figures


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.db import connection

    results = Results()
    log(f"Creating {args.connections} users in {args.schools} schools and {args.writes} started sessions...")
    listeners, writes = await sync_to_async(fixture_create)(args)
    log(f"Connecting {len(listeners)} dashboards to {args.ws}...")
    started = time.perf_counter()
    sockets = await open_all(dashboard_url(args.ws), listeners, args.parallel_connects, results)
    connect_seconds = time.perf_counter() - started
    connected = {index: listeners[index] for index in sockets}
    log(f"{len(sockets)} connected in {connect_seconds:.1f} s, {sum(results.refused.values())} refused.")
    readers = [asyncio.create_task(listen(ws, index, results)) for index, ws in sockets.items()]
    # Measure dashboards that are open, not the wake of the connection burst: each connection polls the log
    # and re-checks its token for the first time within the poll interval (10 s) after it opened.
    log(f"Waiting {args.warmup:.0f} s for the connections to settle...")
    await asyncio.sleep(args.warmup)

    warm, measured_writes = writes[: args.warm_writes], writes[args.warm_writes :]
    results.warm = {write.session_id for write in warm}
    log(f"Warming the HTTP workers' write path with {len(warm)} completions (checked, not timed)...")
    await send_writes(args, warm, results)
    await asyncio.sleep(1.0)
    log(f"Completing {len(measured_writes)} sessions over HTTP at {args.rate}/s against {args.http}...")
    await send_writes(args, measured_writes, results)
    errors = sum(results.http_errors.values())
    log(f"{len(results.earning_of)} completed, {errors} HTTP errors; waiting for the deliveries...")
    wanted = wanted_by(connected, writes, results)
    await settle(wanted, results, args.settle)
    results.closing = True
    measured = tally(connected, writes, wanted, results)
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)
    await asyncio.gather(*readers, return_exceptions=True)

    counts, samples = measured
    if args.samples:
        samples_write(args.samples, samples)
    return {
        "http": args.http,
        "ws": args.ws,
        "settings": os.environ["DJANGO_SETTINGS_MODULE"],
        "database": connection.vendor,
        "announcements": "redis" if settings.REDIS_URL else "in-process",
        "connections": args.connections,
        "connected": len(sockets),
        "refused": dict(results.refused),
        "dropped": dict(results.dropped),
        "connect_seconds": round(connect_seconds, 2),
        "warmup_seconds": args.warmup,
        "handshake_ms": percentiles(results.handshake_ms),
        "writes": len(writes) - args.warm_writes,
        "warm_writes": args.warm_writes,
        "writes_sent_per_second": sent_rate(results),
        "completions_ok": len(results.earning_of),
        "http_errors": sum(results.http_errors.values()),
        "http_error_kinds": dict(results.http_errors),
        "http_ms": percentiles(results.http_ms),
        "deliveries_expected": counts[f"{COMPLETED} expected"],
        "deliveries_received": counts[f"{COMPLETED} received"],
        "earnings_updated_expected": counts[f"{EARNINGS} expected"],
        "earnings_updated_received": counts[f"{EARNINGS} received"],
        "missing": counts["missing"],
        "duplicates": counts["duplicates"],
        "out_of_order": counts["out_of_order"],
        "foreign": counts["foreign"],
        "other_messages": dict(results.other_messages),
        "latency_ms": percentiles([sample.latency_ms for sample in samples], mean=True),
        "after_answer_ms": percentiles([sample.after_answer_ms for sample in samples], mean=True),
    }


# --- the command line -------------------------------------------------------------------------------


def dashboard_url(ws_url: str) -> str:
    """``--ws`` as given when it names a path, else the dashboard socket on that server."""
    parts = urlsplit(ws_url)
    return ws_url if parts.path not in ("", "/") else f"{parts.scheme}://{parts.netloc}{DASHBOARD_PATH}"


def raise_open_files_limit(needed: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", default="http://127.0.0.1:8000", help="the HTTP API (127.0.0.1 only)")
    parser.add_argument("--ws", default="ws://127.0.0.1:8001", help="the WebSocket server (127.0.0.1 only)")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--writes", type=int, default=200, help="sessions completed over HTTP, timed")
    parser.add_argument(
        "--warm-writes",
        type=int,
        default=20,
        help="completions sent first to warm the HTTP workers (their deliveries are checked, not timed)",
    )
    parser.add_argument("--rate", type=float, default=20.0, help="completions per second")
    parser.add_argument("--schools", type=int, default=10)
    parser.add_argument("--staff-per-school", type=int, default=5, help="the owner and the admins of a school")
    parser.add_argument("--parallel-connects", type=int, default=50)
    parser.add_argument("--http-concurrency", type=int, default=16, help="completion requests in flight, at most")
    parser.add_argument(
        "--warmup", type=float, default=12.0, help="seconds from the last connection to the first write"
    )
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to wait for the last deliveries")
    parser.add_argument("--timeout", type=float, default=300.0, help="the whole run, in seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep what the run created")
    parser.add_argument("--samples", type=Path, help="write every delivery's latency to this CSV file")
    args = parser.parse_args()

    for option, schemes in (("http", ("http",)), ("ws", ("ws",))):
        parts = urlsplit(getattr(args, option))
        if parts.scheme not in schemes or parts.hostname != HOST or parts.port is None:
            parser.error(f"--{option} must be {schemes[0]}://{HOST}:<port> (this machine only)")
    if not 1 <= args.connections <= 20_000 or args.schools < 1 or args.staff_per_school < 1:
        parser.error("--connections must be 1..20000, --schools and --staff-per-school at least 1")
    if args.connections < args.schools * (args.staff_per_school + 1):
        parser.error("each school needs its staff and at least one teacher: raise --connections")
    if args.writes < 1 or args.warm_writes < 0 or not 0 < args.rate <= 1000 or args.http_concurrency < 1:
        parser.error("--writes must be at least 1, --rate in (0, 1000], --http-concurrency at least 1")
    return args


def main() -> None:
    args = arguments()
    soft, hard = raise_open_files_limit(args.connections + 256)
    if soft != resource.RLIM_INFINITY and soft < args.connections + 64:
        sys.exit(f"open files limit {soft} (hard {hard}) is too low for {args.connections} connections")
    django_setup()

    async def bounded() -> dict[str, Any]:
        async with asyncio.timeout(args.timeout):
            return await run(args)

    try:
        summary = asyncio.run(bounded())
        summary["open_files_limit"] = soft
    finally:
        if not args.keep:
            log(f"Cleaned up: {cleanup()}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
