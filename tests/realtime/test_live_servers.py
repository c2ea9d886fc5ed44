"""Two real server processes on PostgreSQL and Redis: a write committed in a third process reaches
dashboards connected to either server, and a dashboard that moves to the other server resumes without
losing anything."""

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
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from websockets.asyncio.client import connect

from chalkboard.accounts.services import token_create

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0


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


def emit_elsewhere(env: dict[str, str], school_id: int, teacher_id: int | None, **data: Any) -> int:
    """Commit an event from a process of its own."""
    command = [sys.executable, "-m", "tests.realtime.emit_event", "--school", str(school_id)]
    if teacher_id is not None:
        command += ["--teacher", str(teacher_id)]
    command += ["--type", "session.completed", "--data", json.dumps(data)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=60, check=True)  # noqa: S603
    return int(json.loads(result.stdout.decode().strip().splitlines()[-1])["id"])


def ticket_from(port: int, token: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/auth/ws-ticket/", method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return str(json.loads(response.read())["ticket"])


async def next_event(ws: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


def test_a_write_in_another_process_reaches_dashboards_on_both_servers(world, servers, live_env):
    port_a, port_b = servers
    teacher_token, _ = token_create(user=world.teacher.user)
    admin_token, _ = token_create(user=world.admin)

    async def scenario() -> None:
        teacher_url = f"ws://127.0.0.1:{port_a}/ws/dashboard/"
        admin_url = f"ws://127.0.0.1:{port_b}/ws/dashboard/?ticket={ticket_from(port_b, admin_token)}"
        headers = {"Authorization": f"Bearer {teacher_token}"}
        async with (
            connect(teacher_url, additional_headers=headers, open_timeout=WAIT) as teacher,
            connect(admin_url, open_timeout=WAIT) as admin,
        ):
            started = time.monotonic()
            event_id = await asyncio.to_thread(
                emit_elsewhere, live_env, world.school.pk, world.teacher.pk, session_id=world.session.pk
            )
            for ws in (teacher, admin):
                message = await next_event(ws)
                assert message["id"] == event_id
                assert message["type"] == "session.completed"
                assert message["school_id"] == world.school.pk
                assert message["teacher_id"] == world.teacher.pk
                assert message["data"] == {"session_id": world.session.pk}
            # Nudged through Redis, not found by a poll (which comes every 10 s).
            assert time.monotonic() - started < 8
            await teacher.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(teacher.recv(), WAIT)) == {"type": "pong"}
            last_seen = event_id

        # Away from both servers, two more writes commit, one of them another teacher's.
        missed = await asyncio.to_thread(emit_elsewhere, live_env, world.school.pk, world.teacher.pk, n=1)
        await asyncio.to_thread(emit_elsewhere, live_env, world.school.pk, world.other_teacher.pk, n=2)

        # The teacher comes back through the other server and resumes from the last id they saw.
        resume_url = f"ws://127.0.0.1:{port_b}/ws/dashboard/?since={last_seen}"
        async with connect(resume_url, additional_headers=headers, open_timeout=WAIT) as teacher:
            assert (await next_event(teacher))["id"] == missed
            live = await asyncio.to_thread(emit_elsewhere, live_env, world.school.pk, world.teacher.pk, n=3)
            assert (await next_event(teacher))["id"] == live

    asyncio.run(scenario())


def test_a_used_ticket_is_refused_by_the_other_server(world, servers):
    port_a, port_b = servers
    token, _ = token_create(user=world.admin)
    ticket = ticket_from(port_a, token)

    async def scenario() -> None:
        async with connect(f"ws://127.0.0.1:{port_a}/ws/dashboard/?ticket={ticket}", open_timeout=WAIT) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "pong"}
        async with connect(f"ws://127.0.0.1:{port_b}/ws/dashboard/?ticket={ticket}", open_timeout=WAIT) as ws:
            await asyncio.wait_for(ws.wait_closed(), WAIT)
            assert ws.close_code == 4401

    asyncio.run(scenario())
