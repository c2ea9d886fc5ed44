"""Every byte of a request body is accounted for, whatever its framing: a chunked body (no Content-Length) is
read and used exactly like one that declared its length, or refused; never accepted and then dropped. A body
over the limit is refused as soon as it passes the limit, before the rest is read and before anyone is
authenticated.

These tests drive the two entry points the servers load (``config.asgi.application`` and
``config.wsgi.application``) in process, as a server would; ``test_abuse_bodies_live.py`` does the same
through real uvicorn and gunicorn processes."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone

from chalkboard.accounts.services import token_create
from chalkboard.scheduling.models import Session, SessionNote, SessionStatus
from config.asgi import application as asgi_application
from config.wsgi import application as wsgi_application
from tests import factories as f

LIMIT = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
CHUNK = 64 * 1024
SIX_GB = 6 * 1024**3
STAFF_NOTE = {"notes": [{"visibility": "staff", "text": "Did not come; phoned the guardian."}]}


def started_session(world) -> Session:
    return f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=2))


def bearer(user) -> str:
    token, _ = token_create(user=user)
    return f"Bearer {token}"


def pieces(body: bytes, size: int = 7) -> list[bytes]:
    """``body`` cut into small pieces, as a chunked upload arrives."""
    return [body[start : start + size] for start in range(0, len(body), size)]


# --- ASGI: what uvicorn hands the application ----------------------------------------------------------


class Upload:
    """The ``receive`` of an HTTP request whose body arrives in ``chunks``; after the last one, it either
    ends (``more_body`` false) or the client stalls (``stalls``: it never sends the end). Counts what the
    application took."""

    def __init__(self, chunks: Any, *, stalls: bool = False) -> None:
        self.chunks = iter(chunks)
        self.stalls = stalls
        self.taken = 0
        self.pending = next(self.chunks, None)

    async def receive(self) -> dict[str, Any]:
        if self.pending is None:
            await asyncio.Event().wait()  # the client sends nothing more (and does not leave)
        chunk, self.pending = self.pending, next(self.chunks, None)
        self.taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self.pending is not None or self.stalls}


def asgi_scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


def asgi_request(method: str, path: str, headers: dict[str, str], upload: Upload) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the application's answer; fails if it waits for what the client never
    sends."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        await asyncio.wait_for(asgi_application(asgi_scope(method, path, headers), upload.receive, send), 10)

    async_to_sync(call)()
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], json.loads(body)


CHUNKED_JSON = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}


@pytest.mark.django_db(transaction=True)
def test_asgi_a_chunked_no_show_keeps_its_staff_notes(world):
    session = started_session(world)
    headers = {**CHUNKED_JSON, "Authorization": bearer(world.teacher.user)}
    upload = Upload(pieces(json.dumps(STAFF_NOTE).encode()))

    status, body = asgi_request("POST", f"/api/sessions/{session.pk}/no-show/", headers, upload)

    assert status == 200, body
    assert body["status"] == SessionStatus.NO_SHOW
    note = SessionNote.objects.get(session=session)
    assert (note.visibility, note.text) == ("staff", STAFF_NOTE["notes"][0]["text"])


@pytest.mark.django_db(transaction=True)
def test_asgi_a_chunked_cancellation_keeps_its_reason(world):
    headers = {**CHUNKED_JSON, "Authorization": bearer(world.owner)}
    upload = Upload(pieces(b'{"reason": "Teacher ill, moved to Friday"}'))

    status, body = asgi_request("POST", f"/api/sessions/{world.session.pk}/cancel/", headers, upload)

    assert status == 200, body
    world.session.refresh_from_db()
    assert (world.session.status, world.session.cancellation_reason) == ("cancelled", "Teacher ill, moved to Friday")


def endless(total: int = SIX_GB, size: int = CHUNK):
    """``total`` bytes of a body, made as they are taken."""
    for _ in range(total // size):
        yield b"x" * size


@pytest.mark.django_db(transaction=True)
def test_asgi_a_chunked_body_over_the_limit_is_a_413_once_it_passes_the_limit(world):
    """An anonymous 6 GB upload: 413 (not 401) as soon as it passes the limit; the rest is never taken."""
    upload = Upload(endless(), stalls=True)

    status, body = asgi_request("POST", f"/api/sessions/{world.session.pk}/cancel/", CHUNKED_JSON, upload)

    assert (status, body["code"]) == (413, "too_large")
    assert body["message"] == f"The request body is larger than {LIMIT} bytes."
    assert LIMIT < upload.taken <= LIMIT + CHUNK
    world.session.refresh_from_db()
    assert world.session.status == "scheduled"


@pytest.mark.django_db(transaction=True)
def test_asgi_a_declared_length_over_the_limit_is_a_413_before_any_byte_is_read(world):
    upload = Upload(endless(), stalls=True)
    headers = {"Content-Type": "application/json", "Content-Length": str(SIX_GB)}

    status, body = asgi_request("POST", f"/api/sessions/{world.session.pk}/cancel/", headers, upload)

    assert (status, body["code"]) == (413, "too_large")
    assert upload.taken == 0


# --- WSGI: what gunicorn hands the application -----------------------------------------------------------


class Stream(io.RawIOBase):
    """A ``wsgi.input`` that makes ``total`` bytes as they are read, and counts what was read."""

    def __init__(self, data: bytes = b"", total: int | None = None) -> None:
        self.data, self.total, self.taken = data, total, 0

    def read(self, size: int = -1) -> bytes:
        if self.total is not None:
            size = min(size if size >= 0 else self.total, self.total - self.taken)
            self.taken += size
            return b"x" * size
        chunk = self.data[self.taken : self.taken + size] if size >= 0 else self.data[self.taken :]
        self.taken += len(chunk)
        return chunk


def wsgi_request(
    method: str, path: str, headers: dict[str, str], stream: Stream, *, terminated: bool = True
) -> tuple[int, dict[str, Any]]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if terminated:  # gunicorn's promise: reading wsgi.input ends where the body ends, chunked or not
        environ["wsgi.input_terminated"] = True
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in {"CONTENT_TYPE", "CONTENT_LENGTH"} else f"HTTP_{key}"] = value
    started: list[str] = []
    # As Django's test client does: the request must not close the test's connection (and its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        answer = wsgi_application(environ, lambda status, headers, exc_info=None: started.append(status))
        body = b"".join(answer)
        answer.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return int(started[0].split()[0]), json.loads(body)


@pytest.mark.django_db
def test_wsgi_a_chunked_no_show_keeps_its_staff_notes(world):
    session = started_session(world)
    headers = {**CHUNKED_JSON, "Authorization": bearer(world.teacher.user)}

    status, body = wsgi_request(
        "POST", f"/api/sessions/{session.pk}/no-show/", headers, Stream(json.dumps(STAFF_NOTE).encode())
    )

    assert status == 200, body
    assert body["status"] == SessionStatus.NO_SHOW
    note = SessionNote.objects.get(session=session)
    assert (note.visibility, note.text) == ("staff", STAFF_NOTE["notes"][0]["text"])


@pytest.mark.django_db
def test_wsgi_a_chunked_cancellation_keeps_its_reason(world):
    headers = {**CHUNKED_JSON, "Authorization": bearer(world.owner)}
    status, body = wsgi_request(
        "POST", f"/api/sessions/{world.session.pk}/cancel/", headers, Stream(b'{"reason": "Flu"}')
    )
    assert status == 200, body
    world.session.refresh_from_db()
    assert (world.session.status, world.session.cancellation_reason) == ("cancelled", "Flu")


@pytest.mark.django_db
def test_wsgi_a_chunked_body_over_the_limit_is_a_413_once_it_passes_the_limit(world):
    stream = Stream(total=SIX_GB)
    status, body = wsgi_request("POST", f"/api/sessions/{world.session.pk}/cancel/", CHUNKED_JSON, stream)
    assert (status, body["code"]) == (413, "too_large")
    assert stream.taken == LIMIT + 1
    world.session.refresh_from_db()
    assert world.session.status == "scheduled"


@pytest.mark.django_db
def test_wsgi_a_body_exactly_at_the_limit_is_read(world):
    payload = b'{"reason": "' + b"r" * 200 + b'"}'
    padded = payload + b" " * (LIMIT - len(payload))
    headers = {**CHUNKED_JSON, "Authorization": bearer(world.owner)}
    status, body = wsgi_request("POST", f"/api/sessions/{world.session.pk}/cancel/", headers, Stream(padded))
    assert status == 200, body
    world.session.refresh_from_db()
    assert world.session.cancellation_reason == "r" * 200


@pytest.mark.django_db
def test_wsgi_a_chunked_body_a_server_cannot_delimit_is_a_411_not_dropped(world):
    """Without ``wsgi.input_terminated`` nothing may read past the headers: the body is refused, loudly."""
    headers = {**CHUNKED_JSON, "Authorization": bearer(world.owner)}
    stream = Stream(b'{"reason": "Flu"}')
    status, body = wsgi_request("POST", f"/api/sessions/{world.session.pk}/cancel/", headers, stream, terminated=False)
    assert (status, body["code"]) == (411, "length_required")
    assert stream.taken == 0
    world.session.refresh_from_db()
    assert world.session.status == "scheduled"


# --- Any other way in: the middleware refuses what nobody would read --------------------------------------


@pytest.mark.django_db
def test_a_transfer_encoding_without_a_length_is_a_411_in_process(world, as_user):
    response = as_user(world.owner).post(
        f"/api/sessions/{world.session.pk}/cancel/",
        data=b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )
    assert response.status_code == 411
    assert response.json()["code"] == "length_required"
    world.session.refresh_from_db()
    assert world.session.status == "scheduled"
