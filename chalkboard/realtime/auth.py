"""Who is opening a dashboard socket, and from which page.

A client authenticates the handshake with ``Authorization: Bearer <token>`` (the same knox tokens as the
HTTP API: stored hashed, expiring, revocable, refused for an inactive user), or, from a browser, which
cannot set that header on a WebSocket, with the subprotocols it offers (``Sec-WebSocket-Protocol``):
``chalkboard`` and ``chalkboard.ticket.<ticket>`` (a ticket from ``POST /api/auth/ws-ticket/``), or
``chalkboard.token.<token>``. A header, when present, is the credential: a bad header is refused even if a
subprotocol also carries one. A page of Chalkboard's own (``chalkboard.web``) offers none of those: its
signed-in session cookie is the credential, checked again while the socket is open like a token (signing
out closes the socket with 4401), and only ever from an allowed Origin (below).

Credentials never go in the URL: servers and proxies write URLs to their logs. A handshake whose query
string names one (``?ticket=``, ``?token=``, …) is refused (``credentials_in_url``: the consumer closes it
with 4400 and says why), whatever else it carries, and a ticket found there is spent, so that nobody can
replay it from a log.

The middleware puts ``user`` (``None`` when the credentials are missing or bad) and ``token_digest`` (the
bearer token the connection lives on, re-checked while it is open) into the scope. It refuses nothing
itself: the consumer accepts and then closes with 4401, so that a browser can tell "log in again" from a
network failure (a refused handshake reaches browser code only as close code 1006).

The Origin check comes first and does refuse the handshake: a page on a host not in ``ALLOWED_HOSTS`` may
not open a socket with its visitor's credentials. A handshake without an Origin header is not from a
browser page and is let through to authentication (any other client could send whatever Origin it likes).
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings
from knox.models import AuthToken
from rest_framework import exceptions

from chalkboard.accounts.authentication import BearerTokenAuthentication
from chalkboard.accounts.models import User
from chalkboard.accounts.sessions import SESSION_CREDENTIAL, session_users
from chalkboard.realtime.db import database_call
from chalkboard.realtime.services import ticket_consume

BEARER = b"bearer"
PROTOCOL = "chalkboard"
TICKET_PROTOCOL = "chalkboard.ticket."
TOKEN_PROTOCOL = "chalkboard.token."  # noqa: S105 (a prefix, not a secret)  # nosec B105
# Query parameters that would put a credential in a URL (compared without case).
URL_CREDENTIALS = frozenset({"ticket", "token", "access_token", "auth_token", "authorization", "auth", "bearer"})


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


def credentials_in_url(scope: dict[str, Any]) -> bool:
    return any(name.lower() in URL_CREDENTIALS for name in query_params(scope))


def _credential_protocols(scope: dict[str, Any]) -> list[str]:
    return [
        protocol
        for protocol in scope.get("subprotocols") or []
        if protocol.startswith((TICKET_PROTOCOL, TOKEN_PROTOCOL))
    ]


def token_from_scope(scope: dict[str, Any]) -> AuthToken | None:
    """The token the handshake authenticates with: its header's, else the one credential among its
    subprotocols. Nothing when the URL carries a credential (a ticket there is spent)."""
    if credentials_in_url(scope):
        if ticket := query_params(scope).get("ticket"):
            ticket_consume(ticket=ticket)
        return None
    header = _authorization(scope)
    if header is not None:
        return token_from_header(header)
    offered = _credential_protocols(scope)
    if len(offered) != 1:
        return None
    credential = offered[0]
    if credential.startswith(TICKET_PROTOCOL):
        return ticket_consume(ticket=credential.removeprefix(TICKET_PROTOCOL))
    return token_from_header(b"Bearer " + credential.removeprefix(TOKEN_PROTOCOL).encode())


def accepted_protocol(scope: dict[str, Any]) -> str | None:
    """The subprotocol the server answers with: ``chalkboard`` if offered (a browser fails a handshake whose
    answer names none of those it offered), never the one that carries the credential."""
    return PROTOCOL if PROTOCOL in (scope.get("subprotocols") or []) else None


def _session_key(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"cookie":
            cookie = SimpleCookie()
            cookie.load(value.decode("latin-1"))
            morsel = cookie.get(settings.SESSION_COOKIE_NAME)
            return morsel.value if morsel is not None else None
    return None


def credential_from_scope(scope: dict[str, Any]) -> tuple[User, str] | None:
    """The handshake's user and the credential the connection lives on: a bearer token's digest, or, for a
    signed-in page that offers no other credential, its session (``session:<key>``)."""
    token = token_from_scope(scope)
    if token is not None:
        return token.user, token.digest
    if credentials_in_url(scope) or _authorization(scope) is not None or _credential_protocols(scope):
        return None
    if not any(name.lower() == b"origin" for name, _ in scope.get("headers", [])):
        return None  # a session is a browser's, and a browser names the page's origin (checked above)
    key = _session_key(scope)
    user_id = session_users([key]).get(key) if key else None
    if key is None or user_id is None:
        return None
    return User.objects.get(pk=user_id), SESSION_CREDENTIAL + key


class TokenAuthMiddleware(BaseMiddleware):
    """Authenticates a WebSocket handshake by bearer token, single-use ticket or a signed-in page's session
    (see the module docstring)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        found = await database_call(credential_from_scope)(scope)
        scope = {
            **scope,
            "user": found[0] if found is not None else None,
            "token_digest": found[1] if found is not None else None,
            "credentials_in_url": credentials_in_url(scope),
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
