"""An ASGI server as `make run` starts it, on PostgreSQL, under more concurrent clients than its connection
pool holds: every request is answered, and the process never holds more connections than the pool's size.

Under ASGI each request's sync code runs on a thread of its own; with a persistent connection per thread,
16 clients once exhausted PostgreSQL's connections and a sixth of the answers were 503."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from chalkboard.accounts.services import token_create
from tests.realtime.test_live_servers import ROOT, free_port, test_database_url, wait_until_healthy
from tests.reliability.faults import sessions_now

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.wall_clock]

CLIENTS = 64
REQUESTS_EACH = 8


@pytest.fixture
def earlier_sessions(db: None) -> set[int]:
    """The sessions on the test database before the server starts (this test's own, and any another test of
    this process left behind): the server's are the others."""
    return sessions_now()


@pytest.fixture
def asgi_server(tmp_path: Path, earlier_sessions: set[int]) -> Iterator[int]:
    """One uvicorn process serving ``config.asgi`` with the pool it gets by default (no DATABASE_POOL)."""

    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_POOL", "CHALKBOARD_ASGI"}}
    env |= {"DATABASE_URL": test_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    env.pop("REDIS_URL", None)  # the in-process cache: every request reads the database
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            wait_until_healthy(port, process)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=20)


def server_connections(*, besides: set[int]) -> int:
    """Client sessions on the test database other than ``besides`` and the caller's own: the server's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s))",
            [sorted(besides)],
        )
        return int(cursor.fetchone()[0])


def test_more_clients_than_the_pool_holds_are_all_served_within_its_bound(asgi_server, earlier_sessions, world):
    token, _ = token_create(user=world.teacher.user)
    dashboard = f"http://127.0.0.1:{asgi_server}/api/teachers/{world.teacher.pk}/dashboard/"
    me = f"http://127.0.0.1:{asgi_server}/api/me/"

    def client(number: int) -> list[int]:
        statuses = []
        for request_number in range(REQUESTS_EACH):
            url = dashboard if (number + request_number) % 2 else me
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        return statuses

    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            while not done.is_set():
                peak = max(peak, server_connections(besides=earlier_sessions))
                done.wait(0.01)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=CLIENTS) as clients:
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            answers = Counter(status for statuses in clients.map(client, range(CLIENTS)) for status in statuses)
        finally:
            done.set()
            sampler.join()

    assert answers == {200: CLIENTS * REQUESTS_EACH}
    assert 1 <= peak <= settings.DEFAULT_ASGI_POOL
