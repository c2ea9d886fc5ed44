"""Who is opening a dashboard socket, and from which page.

A client authenticates the handshake with ``Authorization: Bearer <token>`` (the same knox tokens as the
HTTP API: stored hashed, expiring, revocable, refused for an inactive user), or, from a browser, which
cannot set that header on a WebSocket, with ``?ticket=`` from ``POST /api/auth/ws-ticket/``. A header, when
present, is the credential: a bad header is refused even if a ticket is also given.

The middleware puts ``user`` (``None`` when the credentials are missing or bad) and ``token_digest`` (the
bearer token the connection lives on, re-checked while it is open) into the scope. It refuses nothing
itself: the consumer accepts and then closes with 4401, so that a browser can tell "log in again" from a
network failure (a refused handshake reaches browser code only as close code 1006).

The Origin check comes first and does refuse the handshake: a page on a host not in ``ALLOWED_HOSTS`` may
not open a socket with its visitor's credentials. A handshake without an Origin header is not from a
browser page and is let through to authentication (any other client could send whatever Origin it likes).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings
from knox.models import AuthToken
from rest_framework import exceptions

from chalkboard.accounts.authentication import BearerTokenAuthentication
from chalkboard.realtime.db import database_call
from chalkboard.realtime.services import ticket_consume

BEARER = b"bearer"


def query_params(scope: dict[str, Any]) -> dict[str, str]:
    """The query string's parameters, the first value of each."""
    raw = scope.get("query_string", b"").decode("latin-1")
    return {name: values[0] for name, values in parse_qs(raw, keep_blank_values=True).items()}


def _authorization(scope: dict[str, Any]) -> bytes | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            return bytes(value)
    return None


def token_from_header(header: bytes) -> AuthToken | None:
    """The token of an ``Authorization: Bearer <token>`` header, as the HTTP API would accept it."""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != BEARER:
        return None
    try:
        _user, token = BearerTokenAuthentication().authenticate_credentials(parts[1])
    except exceptions.AuthenticationFailed:
        return None
    return token


def token_from_scope(scope: dict[str, Any]) -> AuthToken | None:
    header = _authorization(scope)
    if header is not None:
        return token_from_header(header)
    ticket = query_params(scope).get("ticket")
    if ticket:
        return ticket_consume(ticket=ticket)
    return None


class TokenAuthMiddleware(BaseMiddleware):
    """Authenticates a WebSocket handshake by bearer token or single-use ticket (see the module docstring)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        token = await database_call(token_from_scope)(scope)
        scope = {
            **scope,
            "user": token.user if token is not None else None,
            "token_digest": token.digest if token is not None else None,
        }
        return await super().__call__(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Channels' ``AllowedHostsOriginValidator``, except that a handshake without an Origin header (not a
    browser) is allowed: the Origin check protects browsers' credentials, it cannot authenticate anyone."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or bool(self.validate_origin(parsed_origin))


def allowed_hosts_origin_validator(application: Any) -> BrowserOriginValidator:
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:  # as Django and Channels do in development
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)
