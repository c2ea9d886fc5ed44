"""Redis frozen (SIGSTOP) and then killed under a real server with open dashboard sockets and HTTP load.

One uvicorn process serves the app on the test's PostgreSQL database and on a ``redis-server`` of the
test's own (the machine's shared Redis is never touched). What must hold while Redis is away:

- HTTP answers from the database: after the breaker opens, no request waits for Redis again except the
  one probe per interval; none fails;
- every open socket stays open and hears every event, served from the event log;
- a new handshake is answered at once (it never asks Redis);
- the log says so once per interval, without a traceback;
- when Redis is back, the sockets' hub subscribes to announcements again and HTTP uses the cache again.

The latencies are printed (``-s``) for the record: p50, p99 and max of a small load, healthy and frozen."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from websockets.asyncio.client import connect

from chalkboard.accounts.services import token_create
from tests import factories as f
from tests.realtime.test_live_servers import test_database_url, wait_until_healthy
from tests.reliability.faults import RedisServer, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.wall_clock]

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 0.5  # REDIS_TIMEOUT_SECONDS of the server under test
RETRY = 3.0  # REDIS_RETRY_SECONDS of the server under test
WAIT = 10.0
REQUESTS, CONCURRENCY = 200, 8
BREAKER_LINE = "is unavailable ("
# A request slower than this waited for Redis: one timeout, and the time the machine takes besides.
WAITED_FOR_REDIS = TIMEOUT
# Any request, on this shared 2-core machine, even one that carried the breaker's probe.
SLOWEST = TIMEOUT + 1.5


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if RedisServer.binary is None:
        pytest.skip("needs the redis-server binary")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


class Server:
    def __init__(self, redis_server: RedisServer, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": redis_server.url,
            "REDIS_TIMEOUT_SECONDS": str(TIMEOUT),
            "REDIS_RETRY_SECONDS": str(RETRY),
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "REALTIME_DB_THREAD_SENSITIVE": "0",
            # As in production: the process's threads share a pool, opened once (the machine's PostgreSQL
            # is shared, and a connection opened mid-test may find it full).
            "DATABASE_POOL": "8",
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--no-access-log", "--lifespan", "off"]
        self.output = log.open("wb")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT)  # noqa: S603
        wait_until_healthy(self.port, self.process)

    def get(self, path: str, token: str) -> tuple[int, float]:
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            response.read()
            return response.status, time.monotonic() - started
        finally:
            connection.close()

    def post(self, path: str, token: str, body: dict[str, Any]) -> tuple[int, float]:
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            connection.request("POST", path, body=json.dumps(body), headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status, time.monotonic() - started
        finally:
            connection.close()

    def load(self, paths: list[str], token: str) -> list[tuple[int, float]]:
        """``REQUESTS`` GETs over ``paths`` in turn, ``CONCURRENCY`` at a time."""
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            return list(pool.map(lambda n: self.get(paths[n % len(paths)], token), range(REQUESTS)))

    def lines(self, text: str) -> list[str]:
        self.output.flush()
        return [line for line in self.log.read_text(errors="replace").splitlines() if text in line]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.output.close()


@pytest.fixture
def server(redis_server: RedisServer, tmp_path: Path) -> Iterator[Server]:
    running = Server(redis_server, tmp_path / "server.log")
    try:
        yield running
    finally:
        running.stop()
        # Shown by pytest only when the test fails: what the server said, to tell why.
        print("\n--- server log ---\n" + running.log.read_text(errors="replace"))


def summary(name: str, answers: list[tuple[int, float]]) -> dict[str, float]:
    seconds = sorted(latency for _, latency in answers)
    figures = {
        "p50": seconds[len(seconds) // 2],
        "p99": seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))],
        "max": seconds[-1],
    }
    print(f"\n{name}: {len(answers)} requests, " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in figures.items()))
    return figures


async def open_dashboards(port: int, token: str, count: int) -> list[Any]:
    url = f"ws://127.0.0.1:{port}/ws/dashboard/"
    headers = {"Authorization": f"Bearer {token}"}
    return [await connect(url, additional_headers=headers, open_timeout=WAIT) for _ in range(count)]


async def close_codes(sockets: list[Any]) -> list[int | None]:
    for ws in sockets:
        await asyncio.wait_for(ws.wait_closed(), WAIT)
    return [ws.close_code for ws in sockets]


async def timed_handshake(port: int, token: str) -> tuple[Any, float]:
    started = time.monotonic()
    ws = await open_dashboards(port, token, 1)
    return ws[0], time.monotonic() - started


async def hears_completion(ws: Any, session_id: int) -> bool:
    """Whether ``ws`` is sent ``session.completed`` for ``session_id`` within ``WAIT``."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if message.get("type") == "session.completed" and message["data"]["session"]["id"] == session_id:
            return True
    return False


def complete(server: Server, token: str, session_id: int, student_id: int) -> tuple[int, float]:
    body = {"attendance": [{"student_id": student_id, "status": "present"}], "actual_duration_minutes": 45}
    return server.post(f"/api/sessions/{session_id}/complete/", token, body)


def test_a_frozen_then_killed_redis_under_sockets_and_load(world, redis_server, server):
    token, _ = token_create(user=world.teacher.user)
    paths = ["/api/me/", f"/api/teachers/{world.teacher.pk}/dashboard/"]
    sessions = [
        f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=2)) for _ in range(3)
    ]
    figures: dict[str, dict[str, float]] = {}

    async def all_hear(sockets: list[Any], session_id: int) -> bool:
        return all(await asyncio.gather(*(hears_completion(ws, session_id) for ws in sockets)))

    async def scenario() -> None:
        # --- Healthy. -------------------------------------------------------------------------------
        healthy = await asyncio.to_thread(server.load, paths, token)
        assert {status for status, _ in healthy} == {200}
        figures["healthy"] = summary("healthy", healthy)
        sockets = await open_dashboards(server.port, token, 5)

        # --- Frozen: the sockets stay open and hear every event; HTTP waits for Redis once per interval. -
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        frozen = await asyncio.to_thread(server.load, paths, token)
        assert {status for status, _ in frozen} == {200}
        figures["frozen"] = summary("frozen", frozen)
        ws, seconds = await timed_handshake(server.port, token)
        assert seconds < SLOWEST  # a handshake never asks Redis
        figures["handshake frozen"] = {"seconds": seconds}
        assert (await asyncio.to_thread(complete, server, token, sessions[0].pk, world.student.pk))[0] == 200
        assert await all_hear([*sockets, ws], sessions[0].pk)
        frozen_for = time.monotonic() - frozen_at
        os.kill(redis_server.process.pid, signal.SIGCONT)

        # Requests that waited for Redis: those in flight when it froze, then one probe per interval.
        waited = [latency for _, latency in frozen if latency > WAITED_FOR_REDIS]
        assert len(waited) <= CONCURRENCY + frozen_for / RETRY + 1, sorted(waited)
        assert max(latency for _, latency in frozen) < SLOWEST
        reports = server.lines(BREAKER_LINE)
        assert 1 <= len(reports) <= frozen_for / RETRY + 2, reports
        assert not server.lines("Traceback")

        # --- Back: after one interval the breaker closes. ------------------------------------------------
        await asyncio.sleep(RETRY + 0.5)
        assert server.get(paths[0], token)[0] == 200

        # --- Killed: the same, and a refused connection costs no timeout at all. -----------------------
        redis_server.stop()
        killed_at = time.monotonic()
        killed = await asyncio.to_thread(server.load, paths, token)
        assert {status for status, _ in killed} == {200}
        figures["killed"] = summary("killed", killed)
        late, seconds = await timed_handshake(server.port, token)
        assert seconds < SLOWEST
        figures["handshake killed"] = {"seconds": seconds}
        sockets.append(late)
        assert (await asyncio.to_thread(complete, server, token, sessions[1].pk, world.student.pk))[0] == 200
        assert await all_hear([*sockets, ws], sessions[1].pk)
        killed_for = time.monotonic() - killed_at
        assert max(latency for _, latency in killed) < SLOWEST
        assert len(server.lines(BREAKER_LINE)) - len(reports) <= killed_for / RETRY + 2
        assert not server.lines("Traceback")

        # --- Restarted (empty): the hub subscribes again, every socket opened meanwhile hears the next event.
        redis_server.start()
        await asyncio.sleep(RETRY + 0.5)
        assert server.get(paths[0], token)[0] == 200
        started = time.monotonic()
        assert (await asyncio.to_thread(complete, server, token, sessions[2].pk, world.student.pk))[0] == 200
        assert await all_hear([*sockets, ws], sessions[2].pk)
        figures["heard after recovery"] = {"seconds": time.monotonic() - started}
        for socket in [*sockets, ws]:
            assert socket.close_code is None  # open all along
            await socket.close()
        assert server.lines("answers again")
        assert not server.lines("Traceback")

    asyncio.run(scenario())
    print("\n" + json.dumps(figures, indent=1))
