"""Request bodies, counted as they arrive, whatever their framing: the layer between the server and Django.

Django reads a body only when it knows its length: a WSGI request without ``CONTENT_LENGTH`` reads nothing,
and DRF parses nothing without one, under ASGI too. So a chunked body (``Transfer-Encoding: chunked``) was
accepted and silently dropped (a no-show's notes, a cancellation's reason). And under ASGI, Django reads
the whole body into a temporary file before any middleware runs, so a body over the limit was read to the
end, spooled to disk, before it was refused.

These wrappers stand in front of Django in both entry points (``config.asgi`` and ``config.wsgi``), and
count a body's bytes as the server hands them over, before anything else has run (no authentication, no
database):

- a body that declares a ``Content-Length`` over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is not read at all;
- a body without one (chunked) is read up to the limit: past it, reading stops there; within it, it is
  handed to Django with its ``Content-Length``, exactly like a body that declared one.

A body that was refused reaches Django empty and marked (``BODY_TOO_LARGE``), and
``chalkboard.common.middleware.RequestSizeLimitMiddleware`` answers ``413`` in the error shape, with the
headers every answer carries. A WSGI server that cannot say where a chunked body ends (no
``wsgi.input_terminated``) leaves the body unread and the middleware answers ``411``: never a body
accepted and then dropped.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from django.conf import settings

# Set in the WSGI environ, or the ASGI scope, of a request whose body went over the limit and was not read.
BODY_TOO_LARGE = "chalkboard.body_too_large"
READ_SIZE = 64 * 1024

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def declared_length(value: str | bytes | None) -> int | None:
    """A ``Content-Length`` as a number; ``None`` when absent or not a number."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _limit() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class BodyLimitASGI:
    """Counts an HTTP request's body before the ASGI application sees it (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = _limit()
        if scope["type"] != "http" or limit is None:
            await self.app(scope, receive, send)
            return
        headers = [(name.lower(), value) for name, value in scope.get("headers", [])]
        length_header = next((value for name, value in headers if name == b"content-length"), None)
        if length_header is not None:
            length = declared_length(length_header)
            if length is not None and length > limit:
                await self.app({**scope, BODY_TOO_LARGE: True}, _replay(b"", receive, more=False), send)
            else:  # the server delivers exactly the declared bytes
                await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:  # the rest is never read: the connection closes after the answer
                await self.app({**scope, BODY_TOO_LARGE: True}, _replay(b"", receive, more=False), send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        kept = [(name, value) for name, value in headers if name != b"transfer-encoding"]
        if body or len(kept) < len(headers):  # from now on, a body of a known length
            scope = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        await self.app(scope, _replay(body, receive, more=True), send)


def _replay(body: bytes, receive: Receive, *, more: bool) -> Receive:
    """A ``receive`` that gives the body read so far as one message, then, if the whole body was read, what
    the server says next (a disconnect). A body cut short gives nothing more: its rest is not read."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        if more:
            return await receive()
        await asyncio.Event().wait()  # until the application stops listening (its answer is sent)
        raise AssertionError("unreachable")  # pragma: no cover

    return replayed


class BodyLimitWSGI:
    """Counts an HTTP request's body before the WSGI application sees it (see the module docstring)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        limit = _limit()
        if limit is None or environ.get("CONTENT_LENGTH"):
            return self.app(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            # The server cannot say where a body without a length ends: none is read (Django's rule), and
            # one that announced itself (Transfer-Encoding) is refused by the middleware with 411.
            return self.app(environ, start_response)
        stream = environ["wsgi.input"]
        chunks: list[bytes] = []
        size = 0
        while chunk := stream.read(min(READ_SIZE, limit + 1 - size)):
            size += len(chunk)
            if size > limit:
                environ[BODY_TOO_LARGE] = True
                environ["wsgi.input"] = io.BytesIO(b"")
                return self.app(environ, start_response)
            chunks.append(chunk)
        body = b"".join(chunks)
        if body or environ.pop("HTTP_TRANSFER_ENCODING", None) is not None:  # from now on, a known length
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)
