"""Ways to break the backing services of a running test, honestly and reversibly.

The machine's PostgreSQL and Redis are shared, so they are never stopped. The database is broken inside
this process, at the driver's edge: the open connection is closed and every new one is refused with the
driver's own ``OperationalError`` (as when the server is stopped or the network is cut), and a connection
that cannot be closed (SQLite's in-memory test database) fails every statement instead. Django wraps these
errors exactly as it wraps real ones. Redis is a throwaway ``redis-server`` of the test's own, which the
test really stops and starts (``RedisServer``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from django.db import connections

REFUSED = 'connection to server at "10.9.8.7", port 5432 failed: password authentication failed for user "chalkboard"'


@contextmanager
def database_down(*, after_statements: int = 0, alias: str = "default") -> Iterator[None]:
    """The database stops answering: at once, or after ``after_statements`` more cursors were opened."""
    connection = connections[alias]
    driver_error = connection.Database.OperationalError
    real_create_cursor = connection.create_cursor
    budget = {"left": after_statements}

    def refuse_connection(*args: object, **kwargs: object) -> None:
        raise driver_error(REFUSED)

    def create_cursor(*args: object, **kwargs: object) -> object:
        if budget["left"] > 0:
            budget["left"] -= 1
            return real_create_cursor(*args, **kwargs)
        raise driver_error("server closed the connection unexpectedly")

    if after_statements == 0:
        connection.close()
    with (
        mock.patch.object(connection, "get_new_connection", side_effect=refuse_connection),
        mock.patch.object(connection, "create_cursor", side_effect=create_cursor),
    ):
        yield
    # What a worker does at the end of a request that saw errors: drop the broken connection.
    connection.close_if_unusable_or_obsolete()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def wait_for_port_closed(port: int, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.05)
    return False


class RedisServer:
    """A ``redis-server`` of the test's own on a free loopback port, without persistence."""

    binary = shutil.which("redis-server")

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.binary is not None
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--daemonize", "no", "--dir", str(self.workdir)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        if not wait_for_port(self.port, timeout=10):
            self.stop()
            raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
        wait_for_port_closed(self.port, timeout=5)


def sessions_now() -> set[int]:
    """The client sessions on the test database now, by backend pid (PostgreSQL's own workers left out)."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
        )
        return {int(pid) for (pid,) in cursor.fetchall()}
