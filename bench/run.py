"""`make bench`: Chalkboard under load, on PostgreSQL and Redis, served as in production.

1. Seeds the bench dataset into its own PostgreSQL database (once; reused when it is already there).
2. Prepares requests: tokens of many teachers, the sessions they may complete, their students.
3. Starts `bin/serve-production` (the README's production command) on 127.0.0.1, behind nginx configured with
   `deploy/nginx.conf`, as in production.
4. Drives each scenario with wrk from a separate process, at 1 and 16 concurrent clients, for a fixed
   time, after a short warm-up; counts the SQL queries of each scenario's request in-process.
5. Prints a table and saves it as JSON and as a chart (PNG) under bench/results/.

Every run is bounded in time and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench"
MANIFEST = ROOT / "var" / "bench-manifest.json"
LUA = ROOT / "bench" / "requests.lua"
PYTHON = ROOT / ".venv" / "bin" / "python"

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/chalkboard_bench"
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP_SECONDS = int(os.environ.get("BENCH_WARMUP_SECONDS", "3"))
MIX_SECONDS = int(os.environ.get("BENCH_MIX_SECONDS", "120"))
CLIENTS = (1, 16)
MIX_CLIENTS = 64
BUMP_SECONDS = 0.005
# BENCH_ONLY=floor,dashboard_uncached,ws reruns some scenarios (and "ws", the sockets); empty means all.
ONLY = {name for name in os.environ.get("BENCH_ONLY", "").split(",") if name}
SEED = 1
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# BENCH_PROXY=0 drives the servers directly instead of through nginx (to measure what the proxy costs).
PROXY = os.environ.get("BENCH_PROXY", "1") != "0"
PASSWORD = "bench-demo-password"

# The production settings, on plain HTTP over loopback; the rate limits are raised so that the benchmark
# measures serving, not the limiter refusing a handful of tokens (the limiters' counters still run).
SERVER_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "SECRET_KEY": "bench-only-secret-key-3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a",
    "SECURE_SSL_REDIRECT": "0",
    "ALLOWED_HOSTS": "127.0.0.1,testserver",
    "THROTTLE_USER": "1000000/min",
    "THROTTLE_DASHBOARD": "1000000/min",
    "THROTTLE_EXPORT": "1000000/min",
    "THROTTLE_CALENDAR_FEED": "1000000/min",
    "LOG_LEVEL": "WARNING",
    # The webhook scenario's receiver listens on the loopback address, over plain http (bench/webhooks.py).
    "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.1/32",
    "WEBHOOKS_REQUIRE_HTTPS": "0",
}


@dataclass
class Scenario:
    name: str
    title: str
    requests_file: str
    clients: tuple[int, ...] = CLIENTS
    seconds: int = SECONDS
    think_ms: tuple[int, int] = (0, 0)
    bump_versions: bool = False
    per_clients_file: bool = False  # writes: a fresh file of requests for each run
    # Cached pages: every distinct request is answered once before the warm-up, so that the run measures cached
    # answers only. (The busy teachers' 32 calendar feeds take about 8 s to build one after another: a 3 s
    # warm-up at 1 client left most of them to be built inside the measured run.)
    prime: bool = False
    # A scenario measured again just before this one, at 16 clients, for a comparison under the same conditions.
    compared_with: str | None = None


# The machine's speed drifts within a minute (its first floor and the same floor measured again right after
# have differed by a quarter): each scenario at 16 clients is also compared with a floor measured just before
# it, under the same conditions.
BESIDE_SECONDS = 5


@dataclass
class Result:
    scenario: str
    title: str
    clients: int
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    requests: int
    queries_per_request: int | None = None
    ratio_to_floor: float | None = None
    floor_beside: float | None = None  # req/s of the floor measured just before this scenario
    ratio_to_floor_beside: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def main() -> None:
    for command, package, purpose in (("wrk", "wrk", "the load generator"), (NGINX, "nginx-light", "the proxy")):
        if not shutil.which(command):
            print(f"Installing {package} (Debian package) for {purpose}...", flush=True)
            subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, stdout=subprocess.DEVNULL)
    RESULTS.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.update(SERVER_ENV)
    database_prepare()

    import django

    django.setup()
    random.seed(SEED)
    plan = requests_prepare()
    queries = queries_count(plan)

    app_port, ws_port = free_port(), free_port()
    port = free_port() if PROXY else app_port
    results: list[Result] = []
    with server(app_port, ws_port), proxy(port, app_port=app_port, ws_port=ws_port):
        every = {scenario.name: scenario for scenario in scenarios()}
        for scenario in every.values():
            if ONLY and scenario.name not in ONLY:
                continue
            for clients in scenario.clients:
                beside = None
                if clients == max(CLIENTS) and scenario.name not in ("floor", "floor_again", "mix"):
                    beside = scenario_run(FLOOR_BESIDE, clients=clients, port=port)
                compared = None
                if scenario.compared_with and clients == max(CLIENTS):
                    compared = scenario_run(every[scenario.compared_with], clients=clients, port=port)
                    compared.queries_per_request = queries.get(compared.scenario)
                    compared.scenario += "_beside"
                    compared.title += ", just before the next"
                    results.append(compared)
                    print(f"  {compared.title:<44} {clients:>3} clients p99 {compared.p99_ms:>6.1f} ms", flush=True)
                result = scenario_run(scenario, clients=clients, port=port)
                if beside is not None:
                    result.floor_beside = beside.requests_per_second
                    result.ratio_to_floor_beside = round(result.requests_per_second / beside.requests_per_second, 3)
                result.queries_per_request = queries.get(scenario.name)
                results.append(result)
                rebuilt = result.extra.get("rebuilt_share")
                note = f" ({rebuilt:.0%} rebuilt)" if rebuilt is not None else ""
                if result.floor_beside:
                    note += f", {result.ratio_to_floor_beside:.2f} of the floor beside it ({result.floor_beside:.0f})"
                if compared is not None:
                    result.extra["compared_p99_ms"] = compared.p99_ms
                    note += f", p99 {result.p99_ms:.1f} ms against {compared.p99_ms:.1f} ms just before"
                print(
                    f"  {result.title:<44} {clients:>3} clients {result.requests_per_second:>8.1f} req/s{note}",
                    flush=True,
                )
        websocket = websocket_run(port=port, ws_port=port if PROXY else ws_port) if not ONLY or "ws" in ONLY else None
        webhooks = webhooks_measure() if not ONLY or "webhooks" in ONLY else None

    # The floor is measured first and again after the other HTTP scenarios: each ratio is to the higher of
    # the two, so that a floor measured while the machine was briefly busier never flatters a ratio.
    floor: dict[int, float] = {}
    for r in results:
        if r.scenario in ("floor", "floor_again"):
            floor[r.clients] = max(floor.get(r.clients, 0.0), r.requests_per_second)
    for result in results:
        if floor.get(result.clients):
            result.ratio_to_floor = round(result.requests_per_second / floor[result.clients], 3)
    report(results, websocket, webhooks)


# --- the database -------------------------------------------------------------------------------------


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=True,
        text=True,
        capture_output=True,
    )


def database_prepare() -> None:
    name = DATABASE_URL.rsplit("/", 1)[1]
    admin = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    exists = subprocess.run(
        ["psql", admin, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        check=True,
        text=True,
        capture_output=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["createdb", "--maintenance-db", admin, name], check=True)
    print("Migrating the bench database...", flush=True)
    manage("migrate", "--noinput")
    if has_schools() and not MANIFEST.exists():
        # Seeded from another checkout: without its manifest the requests cannot be prepared. The default
        # database is the benchmark's own, so it is made again; any other one is left to its owner.
        if DATABASE_URL != DEFAULT_DATABASE_URL:
            sys.exit(f"{name} has data but {MANIFEST} is missing: drop the database (dropdb {name}) to reseed.")
        print(f"{name} was seeded from another checkout (no {MANIFEST.name} here): making it again...", flush=True)
        subprocess.run(["dropdb", "--maintenance-db", admin, "--force", name], check=True)
        subprocess.run(["createdb", "--maintenance-db", admin, name], check=True)
        manage("migrate", "--noinput")
    if MANIFEST.exists() and has_schools():
        print("Reusing the bench dataset already loaded.", flush=True)
    else:
        print("Seeding the bench dataset (16 schools, 400 teachers, 8,000 students, 500,000 sessions)...", flush=True)
        started = time.monotonic()
        # The seeder is installed by the local settings only (never in production).
        manage(
            "seed_demo", "--size", "bench", "--seed", str(SEED), "--manifest", str(MANIFEST), "--password", PASSWORD,
            env={"DJANGO_SETTINGS_MODULE": "config.settings.local"},
        )  # fmt: skip
        print(f"Seeded in {time.monotonic() - started:.0f} s.", flush=True)
    # As autovacuum keeps a live database: statistics current, and the visibility map set, without which
    # PostgreSQL cannot answer from an index alone. (A freshly seeded database has neither.)
    subprocess.run(["psql", "-q", DATABASE_URL, "-c", "VACUUM (ANALYZE)"], check=True)


def has_schools() -> bool:
    code = "from chalkboard.schools.models import School; print(School.objects.exists())"
    out = manage("shell", "--no-imports", "-c", code)
    return out.stdout.strip().splitlines()[-1] == "True"


# --- the requests -----------------------------------------------------------------------------------


@dataclass
class Plan:
    teachers: list[tuple[int, int, str]]  # (teacher id, school id, token), every teacher in their first school
    busy: list[tuple[int, int, str]]  # the busy teachers listed first in each school of the manifest
    files: dict[str, Path]


def requests_prepare() -> Plan:
    """Tokens for every teacher, and one file of prepared requests per scenario."""
    from django.db.models import Exists, OuterRef

    from chalkboard.accounts.models import User
    from chalkboard.accounts.services import token_create
    from chalkboard.common.cache import teacher_scope
    from chalkboard.progress.models import StudentProgress
    from chalkboard.scheduling.models import SessionStudent

    manifest = json.loads(MANIFEST.read_text())
    users = {
        u.pk: u for u in User.objects.filter(pk__in=[t["user_id"] for s in manifest["schools"] for t in s["teachers"]])
    }
    teachers, busy, seen = [], [], set()
    for school in manifest["schools"]:
        for rank, teacher in enumerate(school["teachers"]):
            if teacher["teacher_id"] in seen:
                continue
            seen.add(teacher["teacher_id"])
            token, _ = token_create(user=users[teacher["user_id"]])
            entry = (teacher["teacher_id"], school["id"], token)
            teachers.append(entry)
            if rank < 2:
                busy.append(entry)

    files: dict[str, Path] = {}

    def write(name: str, lines: list[str], *, versions: Sequence[tuple[int, int]] = ()) -> None:
        path = WORK / f"{name}.tsv"
        path.write_text("\n".join(lines) + "\n")
        files[name] = path
        if versions:  # the teachers' cache scopes the scenario's bumper keeps bumping
            (WORK / f"{name}.keys").write_text("".join(f"{teacher_scope(t, s)}\n" for t, s in versions))

    write("floor", [f"GET\t/api/auth/token/info/\t{token}" for _, _, token in teachers])
    dashboards = [f"GET\t/api/teachers/{t}/dashboard/?school={s}\t{token}" for t, s, token in busy]
    write("dashboard_cached", dashboards)
    busy_versions = [(teacher_id, school_id) for teacher_id, school_id, _ in busy]
    write("dashboard_uncached", dashboards, versions=busy_versions)

    with_progress = StudentProgress.objects.filter(student_id=OuterRef("student_id"))
    progress_lines = []
    for teacher_id, school_id, token in busy:
        students = (
            SessionStudent.objects.filter(session__teacher_id=teacher_id, session__school_id=school_id)
            .filter(Exists(with_progress))
            .values_list("student_id", flat=True)
            .distinct()[:10]
        )
        progress_lines += [f"GET\t/api/students/{sid}/progress/\t{token}" for sid in students]
    write("progress", progress_lines)

    today = date.today()
    year_ago = today.replace(day=1) - timedelta(days=335)
    write(
        "earnings_year",
        [
            f"GET\t/api/teachers/{t}/earnings/?school={s}&from={year_ago.replace(day=1)}&to={today}&group_by=month"
            f"\t{token}"
            for t, s, token in busy
        ],
    )
    write("sessions_page", [f"GET\t/api/sessions/?school={s}&page_size=20\t{token}" for _, s, token in busy])
    # The busy teachers' calendar feeds, as a calendar app reads them (the secret address is the credential).
    feeds = [f"GET\t{feed_path(t, s, users[t])}\t{token}" for t, s, token in busy]
    write("feed_cached", feeds)
    write("feed_uncached", feeds, versions=busy_versions)

    # Completions all in one school (its teachers in turn), then the same writes spread over every school.
    one_school = [t for t in teachers if t[1] == teachers[0][1]]
    write("complete_c1", completion_lines(one_school, count=4000))
    write("complete_c16", completion_lines(one_school, count=12000))
    write("complete_spread_c1", completion_lines(teachers, count=4000, spread=True))
    write("complete_spread_c16", completion_lines(teachers, count=12000, spread=True))
    # One teacher's page, asked for by every client while its cache version is bumped every BUMP_SECONDS.
    write("dashboard_steady_writes", dashboards[:1], versions=busy_versions[:1])
    taught = taught_by(teachers)
    write("mix", mix_lines(teachers, taught))
    # Assessments by every teacher in turn, the realistic mix's heaviest request (made after the mix, whose
    # requests stay those of earlier runs).
    write("assess_c1", assessment_lines(teachers, taught, count=4000))
    write("assess_c16", assessment_lines(teachers, taught, count=12000))
    return Plan(teachers=teachers, busy=busy, files=files)


def feed_path(teacher_id: int, school_id: int, user: Any) -> str:
    """A new teacher feed of the teacher in the school, made through its service: its secret address. The
    feeds of earlier runs are revoked first (each person has a bounded number)."""
    from chalkboard.calendars.selectors import feed_list
    from chalkboard.calendars.services import feed_create, feed_revoke
    from chalkboard.schools.access import Viewer

    viewer = Viewer.for_user(user)
    for feed in feed_list(viewer=viewer):
        feed_revoke(viewer=viewer, feed=feed)
    _, token = feed_create(viewer=viewer, kind="teacher", school_id=school_id)
    return f"/api/calendar/{token}.ics"


def completion_lines(teachers: list[tuple[int, int, str]], *, count: int, spread: bool = False) -> list[str]:
    """Fresh sessions that started long ago and wait to be completed, one request each. They start
    more than 90 days back, so they do not crowd the dashboards' lists of sessions to complete. ``spread``:
    consecutive requests go to different schools (else to the teachers in their order)."""
    sessions = pool_create(teachers, count=count, spread=spread)
    lines = []
    for session_id, student_ids, token in sessions:
        body = {
            "attendance": [{"student_id": sid, "status": "present"} for sid in student_ids],
            "actual_duration_minutes": random.choice([45, 50, 55, 60, 75]),
            "notes": [{"visibility": "shared", "text": "Worked through the exercises."}],
        }
        lines.append(f"POST\t/api/sessions/{session_id}/complete/\t{token}\t{json.dumps(body)}")
    return lines


def pool_create(
    teachers: list[tuple[int, int, str]], *, count: int, spread: bool = False
) -> list[tuple[int, list[int], str]]:
    from django.db import transaction

    from chalkboard.people.models import TeacherRate
    from chalkboard.scheduling.models import Session, SessionStudent

    rated = set(TeacherRate.objects.values_list("teacher_id", "school_id"))
    pupils: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for teacher_id, school_id, student_id, subject_id in SessionStudent.objects.filter(
        session__starts_at__gte=datetime.now(UTC) - timedelta(days=60)
    ).values_list("session__teacher_id", "session__school_id", "student_id", "session__subject_id")[:200_000]:
        pupils.setdefault((teacher_id, school_id), []).append((student_id, subject_id))
    candidates = [(t, s, token) for t, s, token in teachers if (t, s) in pupils and (t, s) in rated]
    if spread:  # round robin over the schools: the first teacher of each, then the second of each, ...
        by_school: dict[int, list[tuple[int, int, str]]] = {}
        for candidate in candidates:
            by_school.setdefault(candidate[1], []).append(candidate)
        rounds = max(len(group) for group in by_school.values())
        candidates = [group[n] for n in range(rounds) for group in by_school.values() if n < len(group)]
    now = datetime.now(UTC)
    planned: list[tuple[Session, int, str]] = []
    for n in range(count):
        teacher_id, school_id, token = candidates[n % len(candidates)]
        student_id, subject_id = random.choice(pupils[(teacher_id, school_id)])
        starts_at = now - timedelta(days=random.randint(100, 700), minutes=random.randint(0, 1440))
        planned.append(
            (
                Session(
                    school_id=school_id,
                    teacher_id=teacher_id,
                    subject_id=subject_id,
                    starts_at=starts_at,
                    planned_duration_minutes=60,
                ),
                student_id,
                token,
            )
        )
    with transaction.atomic():
        created = Session.objects.bulk_create([session for session, _, _ in planned], batch_size=2000)
        SessionStudent.objects.bulk_create(
            [SessionStudent(session=s, student_id=sid) for s, (_, sid, _) in zip(created, planned, strict=True)],
            batch_size=2000,
        )
    return [(s.pk, [sid], token) for s, (_, sid, token) in zip(created, planned, strict=True)]


Taught = dict[tuple[int, int], list[tuple[int, int]]]


def taught_by(teachers: list[tuple[int, int, str]]) -> Taught:
    """Each teacher's (teacher, school) students and subjects, from their bookings."""
    from chalkboard.scheduling.models import SessionStudent

    taught: Taught = {}
    for teacher_id, school_id, student_id, subject_id in SessionStudent.objects.filter(
        session__teacher_id__in=[t for t, _, _ in teachers]
    ).values_list("session__teacher_id", "session__school_id", "student_id", "session__subject_id")[:100_000]:
        taught.setdefault((teacher_id, school_id), []).append((student_id, subject_id))
    return taught


def assessment_line(token: str, students: list[tuple[int, int]]) -> str:
    """A teacher's assessment of one of their students, in one of the student's subjects."""
    student_id, subject_id = random.choice(students)
    body = {
        "student_id": student_id,
        "subject_id": subject_id,
        "kind": random.choice(["quiz", "homework", "test"]),
        "score": str(random.randint(3, 10)),
        "max_score": "10",
    }
    return f"POST\t/api/assessments/\t{token}\t{json.dumps(body)}"


def assessment_lines(teachers: list[tuple[int, int, str]], taught: Taught, *, count: int) -> list[str]:
    """Assessments by every teacher in turn (those with students, ``taught_by``), one request each."""
    assessing = [(token, taught[(t, s)]) for t, s, token in teachers if (t, s) in taught]
    return [assessment_line(*assessing[n % len(assessing)]) for n in range(count)]


def mix_lines(teachers: list[tuple[int, int, str]], taught: Taught) -> list[str]:
    """A school day: mostly dashboards, some session lists, completions and assessments (of ``taught_by``'s
    students)."""
    completions = iter(completion_lines(teachers, count=6000))
    lines = []
    for n in range(30_000):
        teacher_id, school_id, token = teachers[n % len(teachers)]
        roll = random.random()
        if roll < 0.7:
            lines.append(f"GET\t/api/teachers/{teacher_id}/dashboard/?school={school_id}\t{token}")
        elif roll < 0.8:
            lines.append(f"GET\t/api/sessions/?school={school_id}&page_size=20\t{token}")
        elif roll < 0.9 or (teacher_id, school_id) not in taught:
            lines.append(next(completions))
        else:
            lines.append(assessment_line(token, taught[(teacher_id, school_id)]))
    return lines


def queries_count(plan: Plan) -> dict[str, int]:
    """The SQL queries one request of each scenario runs, measured in-process on the same database."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from chalkboard.common.cache import versions_bump

    def first_line(name: str) -> tuple[str, str, str, str]:
        method, path, token, *body = plan.files[name].read_text().splitlines()[0].split("\t")
        return method, path, token, body[0] if body else ""

    def count(name: str, *, warm: bool = False, bump: bool = False) -> int:
        method, path, token, body = first_line(name)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        if warm:
            client.get(path)
        if bump:  # the first request's scope
            versions_bump([(WORK / f"{name}.keys").read_text().split()[0]])
        with CaptureQueriesContext(connection) as queries:
            if method == "GET":
                response = client.get(path)
            else:
                response = client.generic(method, path, body, content_type="application/json")
        if response.status_code >= 400:
            raise RuntimeError(f"{name}: {method} {path} answered {response.status_code}: {response.content[:200]!r}")
        return len(queries)

    counts = {
        "floor": count("floor"),
        "dashboard_cached": count("dashboard_cached", warm=True),
        "dashboard_uncached": count("dashboard_uncached", warm=True, bump=True),
        "dashboard_steady_writes": count("dashboard_steady_writes", warm=True, bump=True),
        "progress": count("progress", warm=True),
        "earnings_year": count("earnings_year"),
        "sessions_page": count("sessions_page", warm=True),
        "feed_cached": count("feed_cached", warm=True),
        "feed_uncached": count("feed_uncached", warm=True, bump=True),
    }
    # One completion from a spare pool, so the runs' own requests stay unused.
    spare = completion_lines(plan.teachers, count=1)[0].split("\t")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {spare[2]}")
    with CaptureQueriesContext(connection) as queries:
        response = client.post(spare[1], spare[3], content_type="application/json")
    if response.status_code != 200:
        raise RuntimeError(f"completion answered {response.status_code}: {response.content[:300]!r}")
    counts["complete"] = counts["complete_spread"] = len(queries)
    counts["assess"] = count("assess_c1")
    counts["floor_again"] = counts["floor"]
    return counts


# --- serving and load -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def background(command: list[str], *, log: Path, ready: Callable[[], bool], what: str, **popen: Any) -> Iterator[None]:
    """Runs ``command`` in a session of its own (its output in ``log``) until the block ends; the block starts
    once ``ready()`` answers, within 60 s."""
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, **popen)
        try:
            deadline = time.monotonic() + 60
            while not ready():
                if process.poll() is not None:
                    raise RuntimeError(f"{what} exited: see {log}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not answer within 60 s: see {log}")
                time.sleep(0.3)
            yield
        finally:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)


def server(port: int, ws_port: int) -> AbstractContextManager[None]:
    return background(
        [str(ROOT / "bin" / "serve-production")],
        log=WORK / "server.log",
        ready=lambda: answers(port, "/healthz") and answers(ws_port, "/healthz"),
        what="the server",
        cwd=ROOT,
        env={**os.environ, "PORT": str(port), "WS_PORT": str(ws_port), "HOST": "127.0.0.1"},
    )


@contextmanager
def proxy(port: int, *, app_port: int, ws_port: int) -> Iterator[None]:
    """nginx with the project's configuration (``deploy/nginx.conf``) on ``port``, in front of the servers,
    as in production: the sync workers never wait on a client (the mix's clients think on open connections)."""
    if not PROXY:
        yield
        return
    run = WORK / "nginx"
    run.mkdir(parents=True, exist_ok=True)
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    for placeholder, value in {
        "__LISTEN__": f"127.0.0.1:{port}",
        "__HTTP__": f"127.0.0.1:{app_port}",
        "__WS__": f"127.0.0.1:{ws_port}",
        "__RUN__": str(run),
    }.items():
        config = config.replace(placeholder, value)
    (run / "nginx.conf").write_text(config)
    command = [NGINX, "-c", str(run / "nginx.conf"), "-p", str(run), "-e", str(run / "error.log")]
    with background(command, log=run / "nginx.log", ready=lambda: answers(port, "/healthz"), what="nginx"):
        yield


def answers(port: int, path: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


FLOOR_BESIDE = Scenario(
    "floor_beside", "floor beside the next scenario", "floor", clients=(16,), seconds=BESIDE_SECONDS
)


def scenarios() -> list[Scenario]:
    return [
        Scenario("floor", "floor: token check (framework + auth)", "floor"),
        Scenario("dashboard_cached", "dashboard of a busy teacher, cached", "dashboard_cached", prime=True),
        Scenario(
            "dashboard_uncached", "dashboard of a busy teacher, uncached", "dashboard_uncached", bump_versions=True
        ),
        Scenario("progress", "student progress", "progress"),
        Scenario("earnings_year", "earnings for a year, by month", "earnings_year"),
        Scenario("sessions_page", "a page of the sessions list", "sessions_page"),
        Scenario("feed_cached", "a teacher's calendar feed, cached", "feed_cached", prime=True),
        Scenario("feed_uncached", "a teacher's calendar feed, uncached", "feed_uncached", bump_versions=True),
        Scenario("complete", "session completion, one school (writes)", "complete", per_clients_file=True),
        Scenario(
            "complete_spread",
            "session completion, every school (writes)",
            "complete_spread",
            per_clients_file=True,
        ),
        Scenario("assess", "recording an assessment (writes)", "assess", per_clients_file=True),
        Scenario(
            "dashboard_steady_writes",
            "one teacher's dashboard, written every 5 ms",
            "dashboard_steady_writes",
            clients=(16,),
            bump_versions=True,
            # Its goal is a p99 no worse than the uncached dashboard's, whose own run is minutes earlier: the
            # machine's speed drifts by a third within a run, so the two are also compared side by side.
            compared_with="dashboard_uncached",
        ),
        Scenario("floor_again", "floor again, after the scenarios above", "floor"),
        Scenario(
            "mix",
            "realistic mix, think time 0.2-2 s",
            "mix",
            clients=(MIX_CLIENTS,),
            seconds=MIX_SECONDS,
            think_ms=(200, 2000),
        ),
    ]


def wrk(*, file: Path, clients: int, seconds: int, port: int, think_ms: tuple[int, int]) -> dict[str, Any]:
    command = [
        "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
        "--",
        str(file),
        str(think_ms[0]),
        str(think_ms[1]),
    ]
    out = subprocess.run(command, check=True, text=True, capture_output=True, timeout=seconds + 60).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


@contextmanager
def version_bumper(keys: list[str]) -> Iterator[dict[str, int]]:
    """Bumps the dashboards' cache versions continuously, so every dashboard request is a rebuild."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    stop = threading.Event()
    stats = {"bumps": 0}

    def loop() -> None:
        while not stop.is_set():
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
            pipe.execute()
            stats["bumps"] += 1
            # Far more often than any one dashboard is asked for (each every few hundred ms at 16
            # clients), yet not so often that bumping takes the cores the server is measured on.
            time.sleep(BUMP_SECONDS)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield stats
    finally:
        stop.set()
        thread.join(5)


LOCK_SAMPLE_SECONDS = 0.01


@contextmanager
def lock_waits() -> Iterator[dict[str, float]]:
    """Samples ``pg_stat_activity`` every ``LOCK_SAMPLE_SECONDS`` while the block runs: the time the bench
    database's backends spent waiting on a lock (heavyweight locks: rows, transactions, advisory), in total
    and by kind, estimated as the waiting backends seen at each sample times the interval."""
    import psycopg

    stop = threading.Event()
    waited: dict[str, float] = {}

    def loop() -> None:
        with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
            while not stop.is_set():
                rows = connection.execute(
                    "SELECT wait_event, count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() GROUP BY wait_event"
                ).fetchall()
                for event, count in rows:
                    waited[event] = waited.get(event, 0.0) + count * LOCK_SAMPLE_SECONDS
                time.sleep(LOCK_SAMPLE_SECONDS)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield waited
    finally:
        stop.set()
        thread.join(5)


def redis_deletes() -> int:
    """How many DEL commands the Redis server has run (all clients, all databases)."""
    import redis

    stats = redis.Redis.from_url(REDIS_URL).info("commandstats")
    return int(stats.get("cmdstat_del", {}).get("calls", 0))


def scenario_run(scenario: Scenario, *, clients: int, port: int) -> Result:
    file = WORK / f"{scenario.requests_file}{f'_c{clients}' if scenario.per_clients_file else ''}.tsv"
    extra: dict[str, Any] = {}
    if scenario.prime:
        requests_prime(file, port=port)
    if WARMUP_SECONDS and not scenario.per_clients_file and scenario.name != "mix":
        wrk(file=file, clients=clients, seconds=WARMUP_SECONDS, port=port, think_ms=scenario.think_ms)
    if scenario.bump_versions:
        from django.core.cache import cache

        scopes = (WORK / f"{scenario.requests_file}.keys").read_text().split()
        keys = [cache.make_key(scope) for scope in scopes]
        deletes_before = redis_deletes()
        with version_bumper(keys) as stats:
            raw = wrk(file=file, clients=clients, seconds=scenario.seconds, port=port, think_ms=scenario.think_ms)
        extra["version_bumps_per_second"] = round(stats["bumps"] / scenario.seconds)
        # A rebuild releases the page's build lock as it stores the page (one DEL); a cached answer, or a request
        # that waited for another's build, deletes nothing. (SETs would count a waiter's tries for the lock too.)
        extra["rebuilt_share"] = round((redis_deletes() - deletes_before) / max(1, raw["requests"]), 3)
    elif scenario.per_clients_file or scenario.name == "mix":  # writes: how long they waited on locks
        with lock_waits() as waited:
            raw = wrk(file=file, clients=clients, seconds=scenario.seconds, port=port, think_ms=scenario.think_ms)
        total = sum(waited.values())
        extra["lock_wait_ms_per_request"] = round(total * 1000 / max(1, raw["requests"]), 2)
        extra["lock_wait_by_kind_s"] = {kind: round(value, 2) for kind, value in sorted(waited.items())}
    else:
        raw = wrk(file=file, clients=clients, seconds=scenario.seconds, port=port, think_ms=scenario.think_ms)
    seconds = raw["duration_us"] / 1e6
    return Result(
        scenario=scenario.name,
        title=scenario.title,
        clients=clients,
        requests_per_second=round(raw["requests"] / seconds, 1),
        p50_ms=round(raw["p50_us"] / 1000, 2),
        p95_ms=round(raw["p95_us"] / 1000, 2),
        p99_ms=round(raw["p99_us"] / 1000, 2),
        errors=raw["status_errors"] + raw["socket_errors"],
        requests=raw["requests"],
        extra=extra,
    )


def requests_prime(file: Path, *, port: int) -> None:
    """Send each distinct request of ``file`` once, with the headers wrk sends (``bench/requests.lua``)."""
    import urllib.request

    for line in dict.fromkeys(file.read_text().splitlines()):
        method, path, token = line.split("\t")[:3]
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


def websocket_run(*, port: int, ws_port: int) -> dict[str, Any] | None:
    """Dashboards on the socket server while sessions are completed over HTTP (``bench/ws_load.py``): the
    time from a completion request on ``port`` to its event on every dashboard connected to ``ws_port``.
    A failure is reported in the results instead of discarding the HTTP scenarios measured before it."""
    script = ROOT / "bench" / "ws_load.py"
    if not script.exists():
        return None
    command = [str(PYTHON), str(script), "--http", f"http://127.0.0.1:{port}", "--ws", f"ws://127.0.0.1:{ws_port}"]
    command += ["--connections", "1000", "--writes", "200", "--rate", "20", "--timeout", "480"]
    command += ["--samples", str(WORK / "ws_samples.csv")]  # every delivery's latency, for a closer look
    print("  dashboard sockets: 1,000 connected, 200 completions over HTTP at 20/s...", flush=True)
    log = WORK / "ws_load.log"
    try:
        # The environment is the server's (SERVER_ENV): same database, Redis and settings.
        done = subprocess.run(command, cwd=ROOT, env=os.environ, text=True, capture_output=True, timeout=600)
    except subprocess.TimeoutExpired:
        return {"error": "bench/ws_load.py did not finish within 600 s"}
    log.write_text(done.stderr)
    if done.returncode != 0:
        return {"error": f"bench/ws_load.py exited with {done.returncode}: see {log}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- the report -------------------------------------------------------------------------------------


def webhooks_measure() -> dict[str, Any]:
    """Webhook deliveries by the servers' job worker (``bench/webhooks.py``); a failure is reported in the
    results instead of discarding the scenarios measured before it."""
    from bench.webhooks import webhooks_run

    print("  webhooks: delivery latency from commit, and deliveries per second with one worker...", flush=True)
    try:
        return webhooks_run()
    except Exception as error:  # reported in the results, never hidden
        return {"error": f"{type(error).__name__}: {error}"}


def report(results: list[Result], websocket: dict[str, Any] | None, webhooks: dict[str, Any] | None) -> None:
    machine = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": subprocess.run(
            ["psql", DATABASE_URL, "-tAc", "SHOW server_version"], text=True, capture_output=True
        ).stdout.strip(),
        "redis": subprocess.run(["redis-server", "--version"], text=True, capture_output=True).stdout.strip(),
        "wrk": "wrk 4 (1 thread, keep-alive connections)",
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = {
        "generated_at": stamp,
        "machine": machine,
        "seconds_per_scenario": SECONDS,
        "results": [asdict(r) for r in results],
        "websocket": websocket,
        "webhooks": webhooks,
    }
    name = "partial" if ONLY else "latest"  # a partial rerun never replaces the full results
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    table = table_markdown(results)
    (RESULTS / f"{name}.md").write_text(table + "\n")
    print()
    print(table)
    if websocket:
        print()
        print("WebSockets:", json.dumps(websocket))
    if webhooks:
        print("Webhooks:", json.dumps(webhooks))
    chart(results, RESULTS / f"{name}.png")
    print(f"\nSaved {RESULTS / name}.json, {name}.md and {name}.png")


def table_markdown(results: list[Result]) -> str:
    lines = [
        "| scenario | clients | req/s | p50 ms | p95 ms | p99 ms | errors | SQL/request | × floor "
        "| × floor beside (its req/s) | lock wait ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.ratio_to_floor:.2f}" if r.ratio_to_floor is not None else ""
        queries = "" if r.queries_per_request is None else str(r.queries_per_request)
        waited = r.extra.get("lock_wait_ms_per_request")
        lock = "" if waited is None else f"{waited:.2f}"
        beside = f"{r.ratio_to_floor_beside:.2f} ({r.floor_beside:,.0f})" if r.floor_beside else ""
        lines.append(
            f"| {r.title} | {r.clients} | {r.requests_per_second:,.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | "
            f"{r.p99_ms:.1f} | {r.errors} | {queries} | {ratio} | {beside} | {lock} |"
        )
    return "\n".join(lines)


def chart(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    at16 = [r for r in results if r.clients == max(CLIENTS)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    names = [r.title for r in at16]
    left.barh(names, [r.requests_per_second for r in at16], color="#3b7dd8")
    left.set_xlabel("requests per second (16 clients)")
    left.invert_yaxis()
    right.barh(names, [r.p99_ms for r in at16], color="#d8703b", label="p99")
    right.barh(names, [r.p50_ms for r in at16], color="#f2b36b", label="p50")
    right.set_xlabel("latency, ms (16 clients)")
    right.invert_yaxis()
    right.legend()
    right.set_yticklabels([])
    fig.suptitle(f"Chalkboard on PostgreSQL + Redis, {os.cpu_count()} cores, bench dataset")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
