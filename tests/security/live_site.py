"""Real servers over a SQLite database of their own, for the abuse tests that must go through a server's own
framing and logging: ``make serve``'s uvicorn, uvicorn on its other HTTP parser, and ``bin/serve-production``
(gunicorn's sync workers for HTTP, uvicorn for sockets).

``python -m tests.security.live_site`` (with the site's ``DATABASE_URL``) seeds one school, a teacher with a
rate, a student, sessions that started two hours ago, and a bearer token of the teacher and of the owner;
it prints them as JSON. Every process started here is stopped by its own process group's id."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.reliability.faults import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 40.0
SESSIONS = 12


@dataclass
class Site:
    env: dict[str, str]
    seed: dict[str, Any]
    workdir: Path

    def session(self, index: int) -> int:
        return int(self.seed["sessions"][index])

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of the site's database, read directly (what the servers committed)."""
        with contextlib.closing(sqlite3.connect(self.workdir / "site.sqlite3")) as db:
            return db.execute(sql, params).fetchall()


def site_env(workdir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'site.sqlite3'}",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CHALKBOARD_VAR_DIR=str(workdir / "var"),
        SECRET_KEY="live-site-test-only",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
        **extra,
    )
    return env


def site_create(workdir: Path) -> Site:
    env = site_env(workdir)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    seeded = subprocess.run(
        [sys.executable, "-m", "tests.security.live_site"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    return Site(env=env, seed=json.loads(seeded.stdout.decode().strip().splitlines()[-1]), workdir=workdir)


# How each serving mode starts, on (http port, socket port).
def _uvicorn(*extra: str) -> Any:
    def command(port: int, ws_port: int) -> tuple[list[str], dict[str, str]]:
        base = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
        return [*base, "--port", str(port), *extra], {}

    return command


def _serve_production(port: int, ws_port: int) -> tuple[list[str], dict[str, str]]:
    return ["bin/serve-production"], {"PORT": str(port), "WS_PORT": str(ws_port), "HTTP_WORKERS": "1"}


MODES = {
    "make-serve": _uvicorn("--no-access-log"),  # what `make run` serves
    "uvicorn-h11-access-log": _uvicorn("--http", "h11"),
    "serve-production": _serve_production,
}


class Server:
    """One serving mode on free ports, in a process group of its own; its output goes to ``log``."""

    def __init__(self, mode: str, site: Site, **extra_env: str) -> None:
        self.port, self.ws_port = free_port(), free_port()
        command, env = MODES[mode](self.port, self.ws_port)
        self.log = site.workdir / f"{mode}-{self.port}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603
                command,
                cwd=ROOT,
                env={**site.env, **env, **extra_env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.ws_port = self.ws_port if mode == "serve-production" else self.port
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        ports = {self.port, self.ws_port}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}: {self.output()}")
            healthy = set()
            for port in ports:
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer,
                ):
                    if answer.status == 200:
                        healthy.add(port)
            if healthy == ports:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the server did not start: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@contextlib.contextmanager
def serving(mode: str, site: Site, **extra_env: str) -> Iterator[Server]:
    server = Server(mode, site, **extra_env)
    try:
        yield server
    finally:
        server.stop()


# --- Raw HTTP, so that the framing is exactly the test's --------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def chunked(*parts: bytes, finish: bool = True) -> bytes:
    framed = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts if part)
    return framed + (b"0\r\n\r\n" if finish else b"")


def raw_request(port: int, head: str, body: bytes = b"", *, timeout: float = 15.0) -> Answer:
    """Sends ``head`` (the request line and headers, without the blank line) and ``body`` as they are, then
    reads one answer. Whatever the client has not finished sending, it keeps waiting to send: an answer
    that needs the rest of the body never comes, and the read times out."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(head.encode("latin-1").replace(b"\n", b"\r\n") + b"\r\n\r\n" + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed without an answer: {received!r}")
            received += chunk
        top, rest = received.split(b"\r\n\r\n", 1)
        lines = top.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
        if headers.get("transfer-encoding") == "chunked":
            while not rest.endswith(b"0\r\n\r\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return Answer(status=int(lines[0].split()[1]), headers=headers, body=_dechunk(rest))
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        return Answer(status=int(lines[0].split()[1]), headers=headers, body=rest[:length])


def _dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, data = data.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    from datetime import timedelta

    from django.utils import timezone

    from chalkboard.accounts.services import token_create
    from chalkboard.schools.models import Role
    from tests import factories as f

    school = f.SchoolFactory()
    owner = f.member(school=school, role=Role.OWNER)
    teacher = f.teacher_in(school)
    student = f.student_in(school)
    started = timezone.now() - timedelta(hours=2)
    sessions = [f.session_for(teacher, student, starts_at=started).pk for _ in range(SESSIONS)]
    print(
        json.dumps(
            {
                "teacher_token": token_create(user=teacher.user)[0],
                "owner_token": token_create(user=owner)[0],
                "sessions": sessions,
            }
        )
    )


if __name__ == "__main__":
    main()
