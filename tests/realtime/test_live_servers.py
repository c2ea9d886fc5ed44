"""Two real server processes on PostgreSQL and Redis: a session completed over HTTP on one server reaches the
dashboards connected to the other, and a dashboard that moves to the other server resumes without losing
anything."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from websockets.asyncio.client import connect

from chalkboard.accounts.services import token_create
from chalkboard.people.models import Student, Teacher
from chalkboard.scheduling.models import Session
from tests import factories as f

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.wall_clock]

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0
# Connections read the log every 10 s without a nudge: anything faster came through Redis.
NUDGED_WITHIN = 8.0
ENVELOPE = {"id", "type", "occurred_at", "school_id", "teacher_id", "data"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_database_url() -> str:
    """The URL of the database this test runs on (the test database, whose rows the servers must see)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def live_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REALTIME_DB_THREAD_SENSITIVE": "0",  # the servers' data is committed: the production path
        "PYTHONUNBUFFERED": "1",
    }


def wait_until_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"server on port {port} did not start")


@pytest.fixture
def servers(live_env: dict[str, str], tmp_path: Path) -> Iterator[list[int]]:
    ports = [free_port(), free_port()]
    processes = []
    try:
        for port in ports:
            log = (tmp_path / f"server-{port}.log").open("wb")
            command = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
            command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
            server = subprocess.Popen(command, cwd=ROOT, env=live_env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
            processes.append(server)
        for port, process in zip(ports, processes, strict=True):
            wait_until_healthy(port, process)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def started_session(teacher: Teacher, student: Student) -> Session:
    """A scheduled session that began two hours ago: it may be completed now."""
    return f.session_for(teacher, student, starts_at=timezone.now() - timedelta(hours=2))


def complete_over_http(port: int, token: str, session: Session, student: Student) -> dict[str, Any]:
    """``POST /api/sessions/{id}/complete/`` on the server at ``port``; the answer's body."""
    body = {"attendance": [{"student_id": student.pk, "status": "present"}], "actual_duration_minutes": 50}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/sessions/{session.pk}/complete/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:  # noqa: S310
        assert response.status == 200
        return dict(json.loads(response.read()))


def ticket_from(port: int, token: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/auth/ws-ticket/", method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return str(json.loads(response.read())["ticket"])


async def next_event(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), WAIT)))


async def completion_events(ws: Any, *, answer: dict[str, Any], school_id: int, teacher_id: int) -> int:
    """Reads the two events of one completion, ``session.completed`` then ``earnings.updated``, checks them
    against the HTTP answer, and returns the id of the last one."""
    completed, earnings = await next_event(ws), await next_event(ws)
    assert set(completed) == ENVELOPE
    assert completed["type"] == "session.completed"
    assert (completed["school_id"], completed["teacher_id"]) == (school_id, teacher_id)
    assert completed["data"]["session"]["id"] == answer["id"]
    assert completed["data"]["session"]["status"] == "completed"
    # The event carries the session and its earning exactly as the completion answered them.
    assert completed["data"] == {
        "session": {k: v for k, v in answer.items() if k != "earning"},
        "earning": answer["earning"],
    }
    assert set(earnings) == ENVELOPE
    assert earnings["type"] == "earnings.updated"
    assert earnings["id"] > completed["id"]
    assert (earnings["school_id"], earnings["teacher_id"]) == (school_id, teacher_id)
    assert earnings["data"] == {
        "teacher_id": teacher_id,
        "school_id": school_id,
        "entry_ids": [answer["earning"]["id"]],
    }
    return int(earnings["id"])


def test_a_completion_over_http_on_one_server_reaches_dashboards_on_the_other(world, servers):
    port_a, port_b = servers
    school_id, teacher_id = world.school.pk, world.teacher.pk
    first, missed, live = (started_session(world.teacher, world.student) for _ in range(3))
    others = started_session(world.other_teacher, world.other_student)
    teacher_token, _ = token_create(user=world.teacher.user)
    other_token, _ = token_create(user=world.other_teacher.user)
    admin_token, _ = token_create(user=world.admin)

    async def complete(port: int, token: str, session: Session, student: Student) -> dict[str, Any]:
        return await asyncio.to_thread(complete_over_http, port, token, session, student)

    async def scenario() -> None:
        teacher_url = f"ws://127.0.0.1:{port_a}/ws/dashboard/"
        # A ticket issued by one server opens a socket on the other.
        admin_url = f"ws://127.0.0.1:{port_a}/ws/dashboard/"
        admin_protocols = ["chalkboard", f"chalkboard.ticket.{ticket_from(port_b, admin_token)}"]
        headers = {"Authorization": f"Bearer {teacher_token}"}
        async with (
            connect(teacher_url, additional_headers=headers, open_timeout=WAIT) as teacher,
            connect(admin_url, subprotocols=admin_protocols, open_timeout=WAIT) as admin,
        ):
            started = time.monotonic()
            answer = await complete(port_b, teacher_token, first, world.student)
            assert answer["id"] == first.pk
            last_ids = [
                await completion_events(ws, answer=answer, school_id=school_id, teacher_id=teacher_id)
                for ws in (teacher, admin)
            ]
            assert last_ids[0] == last_ids[1]
            assert time.monotonic() - started < NUDGED_WITHIN
            await teacher.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(teacher.recv(), WAIT)) == {"type": "pong"}
            last_seen = last_ids[0]

        # Away from both sockets, two more sessions are completed, one of them another teacher's.
        missed_answer = await complete(port_a, teacher_token, missed, world.student)
        await complete(port_a, other_token, others, world.other_student)

        # The teacher comes back through the other server and resumes from the last id they saw: their own
        # missed completion, none of the other teacher's, then live ones.
        resume_url = f"ws://127.0.0.1:{port_b}/ws/dashboard/?since={last_seen}"
        async with connect(resume_url, additional_headers=headers, open_timeout=WAIT) as teacher:
            await completion_events(teacher, answer=missed_answer, school_id=school_id, teacher_id=teacher_id)
            live_answer = await complete(port_a, teacher_token, live, world.student)
            await completion_events(teacher, answer=live_answer, school_id=school_id, teacher_id=teacher_id)

    asyncio.run(scenario())
    assert set(
        Session.objects.filter(pk__in=[first.pk, missed.pk, live.pk, others.pk]).values_list("status", flat=True)
    ) == {"completed"}


def test_a_used_ticket_is_refused_by_the_other_server(world, servers):
    port_a, port_b = servers
    token, _ = token_create(user=world.admin)
    ticket = ticket_from(port_a, token)

    async def scenario() -> None:
        protocols = ["chalkboard", f"chalkboard.ticket.{ticket}"]
        async with connect(f"ws://127.0.0.1:{port_a}/ws/dashboard/", subprotocols=protocols, open_timeout=WAIT) as ws:
            assert ws.subprotocol == "chalkboard"
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "pong"}
        async with connect(f"ws://127.0.0.1:{port_b}/ws/dashboard/", subprotocols=protocols, open_timeout=WAIT) as ws:
            await asyncio.wait_for(ws.wait_closed(), WAIT)
            assert ws.close_code == 4401

    asyncio.run(scenario())
