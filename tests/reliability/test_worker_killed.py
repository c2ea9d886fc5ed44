"""A worker killed in the middle of a session completion, on a real server and a real PostgreSQL database.

A uvicorn process serves the app (``tests/reliability/hanging_asgi.py``, which makes the completion wait
inside its transaction right after it inserted the earning entry) against a database of its own, created
and migrated for this test. The test kills the process with SIGKILL at that moment, checks that PostgreSQL
rolled the transaction back (no earning, the session still scheduled, the Idempotency-Key free), starts a
server again and retries the completion with the same key: 200, and exactly one earning.

Every wait is bounded and every process started here is killed, whatever happens."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
import psycopg
import pytest

from chalkboard.common.models import IdempotencyRecord
from chalkboard.earnings.models import EarningEntry
from chalkboard.scheduling.models import Session
from tests.reliability.faults import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.wall_clock]

ROOT = Path(__file__).resolve().parents[2]
KEY = "complete-7f1c-after-crash"
START_TIMEOUT = 30.0
STEP_TIMEOUT = 20.0
UVICORN = [sys.executable, "-m", "uvicorn", "tests.reliability.hanging_asgi:application", "--host", "127.0.0.1"]
UVICORN += ["--lifespan", "off", "--no-access-log"]
IN_TRANSACTION = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state LIKE 'idle in transaction%%'"


def live_database_url() -> str:
    """The test's own database beside ``DATABASE_URL``'s: ``<name>_live``."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_live"))


def connect(url: str, *, dbname: str | None = None) -> psycopg.Connection:
    """A connection to the server of ``url``: to its database, or to ``dbname``."""
    params = dj_database_url.parse(url)
    return psycopg.connect(
        dbname=dbname or params["NAME"],
        host=params.get("HOST") or None,
        port=params.get("PORT") or None,
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
        autocommit=True,
        connect_timeout=10,
    )


def run_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CHALKBOARD_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="worker-kill-test-only",
        CONN_MAX_AGE="0",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


@pytest.fixture
def live_database(tmp_path):
    url = live_database_url()
    name = dj_database_url.parse(url)["NAME"]
    with connect(url, dbname="postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=run_env(url, tmp_path),
            check=True,
            timeout=300,
        )
        yield url
    finally:
        with connect(url, dbname="postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Server:
    """``uvicorn`` serving one process in a session of its own, so SIGKILL reaches all of it."""

    def __init__(self, *, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log.open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            [*UVICORN, "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}: see {log}")
            with contextlib.suppress(OSError):
                if self.request("GET", "/healthz", timeout=1.0)[0] == 200:
                    return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server did not answer within {START_TIMEOUT}s: see {log}")

    def request(self, method, path, *, body=None, headers=None, timeout=STEP_TIMEOUT):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STEP_TIMEOUT)
        self.log.close()


def count(db, sql: str, *params) -> int:
    return db.execute(sql, params).fetchone()[0]


def earnings_of(db, session_id: int) -> int:
    return count(db, f"SELECT count(*) FROM {EarningEntry._meta.db_table} WHERE session_id = %s", session_id)  # noqa: S608


def status_of(db, session_id: int) -> str:
    return db.execute(f"SELECT status FROM {Session._meta.db_table} WHERE id = %s", (session_id,)).fetchone()[0]  # noqa: S608


def stored_answers_of(db, key: str) -> int:
    return count(db, f"SELECT count(*) FROM {IdempotencyRecord._meta.db_table} WHERE key = %s", key)  # noqa: S608


def wait_until(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"gave up waiting for {what} after {timeout}s")


def test_a_worker_killed_mid_completion_leaves_nothing_and_the_retry_completes_once(live_database, tmp_path):
    seeded = subprocess.run(
        [sys.executable, "-m", "tests.reliability.live_seed"],
        cwd=ROOT,
        env=run_env(live_database, tmp_path),
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    world = json.loads(seeded.stdout.strip().splitlines()[-1])
    path = f"/api/sessions/{world['session_id']}/complete/"
    body = {"attendance": [{"student_id": world["student_id"], "status": "present"}], "actual_duration_minutes": 55}
    headers = {"Authorization": f"Bearer {world['token']}", "Idempotency-Key": KEY}
    marker = tmp_path / "earning-inserted"
    name = dj_database_url.parse(live_database)["NAME"]

    servers: list[Server] = []
    try:
        with connect(live_database) as db:
            hanging = Server(
                env=run_env(live_database, tmp_path, CHALKBOARD_TEST_HANG_MARKER=str(marker)),
                log=tmp_path / "server-1.log",
            )
            servers.append(hanging)
            outcome: dict[str, object] = {}

            def complete() -> None:
                try:
                    outcome["answer"] = hanging.request("POST", path, body=body, headers=headers, timeout=60)
                except OSError as error:  # the server died under the request
                    outcome["error"] = error

            client = threading.Thread(target=complete, daemon=True)
            client.start()

            # The earning is inserted and the transaction still open: invisible from outside.
            wait_until(marker.exists, timeout=STEP_TIMEOUT, what="the completion to insert its earning")
            assert earnings_of(db, world["session_id"]) == 0
            assert count(db, IN_TRANSACTION, name) == 1

            hanging.kill()
            client.join(timeout=STEP_TIMEOUT)
            assert not client.is_alive()
            assert "answer" not in outcome, outcome  # the client never got an answer
            assert hanging.process.returncode == -signal.SIGKILL

            # PostgreSQL sees the connection drop and rolls the transaction back.
            wait_until(lambda: count(db, IN_TRANSACTION, name) == 0, timeout=STEP_TIMEOUT, what="the rollback")
            assert earnings_of(db, world["session_id"]) == 0
            assert status_of(db, world["session_id"]) == "scheduled"
            assert stored_answers_of(db, KEY) == 0

            # Another server; the client retries with the same key.
            server = Server(env=run_env(live_database, tmp_path), log=tmp_path / "server-2.log")
            servers.append(server)
            status_code, _, content = server.request("POST", path, body=body, headers=headers)
            assert status_code == 200, content
            answer = json.loads(content)
            assert answer["status"] == "completed"
            assert answer["earning"]["amount"] == "27.50"  # 55 minutes at 30.00 an hour
            status_code, replay_headers, replayed = server.request("POST", path, body=body, headers=headers)
            assert status_code == 200
            assert replay_headers.get("idempotent-replayed") == "true"
            assert json.loads(replayed) == answer
            assert earnings_of(db, world["session_id"]) == 1
            assert status_of(db, world["session_id"]) == "completed"
            assert stored_answers_of(db, KEY) == 1
    finally:
        for running in servers:
            running.kill()
