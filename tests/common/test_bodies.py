"""The body counting wrappers' ordinary paths: bodies with a length, empty chunked bodies, sockets, a client that
leaves, and no limit at all. The attacks they stop are in ``tests/security/test_abuse_bodies.py``."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from chalkboard.common.bodies import BodyLimitASGI, BodyLimitWSGI, declared_length
from tests.security.test_abuse_bodies import CHUNKED_JSON, Stream, Upload, asgi_request, asgi_scope, bearer, pieces


@pytest.mark.django_db(transaction=True)
def test_asgi_an_empty_chunked_body_is_an_empty_body(world):
    headers = {**CHUNKED_JSON, "Authorization": bearer(world.owner)}
    status, body = asgi_request("POST", f"/api/sessions/{world.session.pk}/cancel/", headers, Upload([b""]))
    assert status == 200, body
    world.session.refresh_from_db()
    assert (world.session.status, world.session.cancellation_reason) == ("cancelled", "")


@pytest.mark.django_db(transaction=True)
def test_asgi_a_body_with_a_length_is_read_as_before(world):
    payload = b'{"reason": "Snow"}'
    headers = {"Content-Type": "application/json", "Content-Length": str(len(payload))}
    headers["Authorization"] = bearer(world.owner)
    status, body = asgi_request("POST", f"/api/sessions/{world.session.pk}/cancel/", headers, Upload(pieces(payload)))
    assert status == 200, body
    world.session.refresh_from_db()
    assert world.session.cancellation_reason == "Snow"


def test_asgi_a_client_that_leaves_mid_body_gets_no_answer():
    calls: list[Any] = []

    async def inner(scope, receive, send):  # pragma: no cover - must not be called
        calls.append(scope)

    messages = iter([{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}])

    async def receive():
        return next(messages)

    async def send(message):  # pragma: no cover - nothing is sent
        calls.append(message)

    async_to_sync(BodyLimitASGI(inner))(asgi_scope("POST", "/api/x/", CHUNKED_JSON), receive, send)
    assert calls == []


def test_asgi_sockets_and_an_unlimited_setting_pass_through(settings):
    seen: list[str] = []

    async def inner(scope, receive, send):
        seen.append(scope["type"])
        assert (await receive())["body"] == b"raw"

    async def receive():
        return {"type": "http.request", "body": b"raw", "more_body": False}

    async def send(message):  # pragma: no cover - nothing is sent
        pass

    wrapped = BodyLimitASGI(inner)
    async_to_sync(wrapped)({"type": "websocket", "headers": []}, receive, send)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None
    async_to_sync(wrapped)(asgi_scope("POST", "/api/x/", CHUNKED_JSON), receive, send)
    assert seen == ["websocket", "http"]


def test_wsgi_an_unlimited_setting_passes_through(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None
    environ = {"wsgi.input": Stream(b"raw"), "wsgi.input_terminated": True}
    answer = BodyLimitWSGI(lambda env, start: [env["wsgi.input"].read()])(environ, lambda *a: None)
    assert answer == [b"raw"]
    assert "CONTENT_LENGTH" not in environ


def test_declared_length():
    assert (declared_length(None), declared_length("12"), declared_length(b"7"), declared_length("abc")) == (
        None,
        12,
        7,
        None,
    )


def test_wsgi_an_empty_chunked_body_gets_a_length_and_a_bodiless_request_is_left_alone():
    seen: list[dict[str, Any]] = []

    def inner(environ, start_response):
        seen.append(dict(environ))
        return [environ["wsgi.input"].read()]

    wrapped = BodyLimitWSGI(inner)
    chunked = {"wsgi.input": Stream(b""), "wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"}
    bodiless = {"wsgi.input": Stream(b""), "wsgi.input_terminated": True}
    assert wrapped(chunked, lambda *a: None) == [b""]
    assert wrapped(bodiless, lambda *a: None) == [b""]
    assert (seen[0]["CONTENT_LENGTH"], "HTTP_TRANSFER_ENCODING" in seen[0]) == ("0", False)
    assert "CONTENT_LENGTH" not in seen[1]


def test_asgi_a_content_length_that_is_not_a_number_is_left_to_the_server(settings):
    """Servers refuse such a request themselves; if one did not, the body passes as it came."""
    bodies: list[bytes] = []

    async def inner(scope, receive, send):
        bodies.append((await receive())["body"])

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):  # pragma: no cover - nothing is sent
        pass

    scope = asgi_scope("POST", "/api/x/", {"Content-Length": "abc"})
    async_to_sync(BodyLimitASGI(inner))(scope, receive, send)
    assert bodies == [b"{}"]


def test_asgi_a_bodiless_request_keeps_its_headers():
    scopes: list[dict[str, Any]] = []

    async def inner(scope, receive, send):
        scopes.append(scope)
        assert await receive() == {"type": "http.request", "body": b"", "more_body": False}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):  # pragma: no cover - nothing is sent
        pass

    scope = asgi_scope("GET", "/api/me/", {"Accept": "application/json"})
    async_to_sync(BodyLimitASGI(inner))(scope, receive, send)
    assert scopes[0]["headers"] == scope["headers"]
