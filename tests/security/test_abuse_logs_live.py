"""What real servers write to their logs, in every serving mode (``make serve``'s uvicorn without an access
log, uvicorn with one, ``bin/serve-production`` with gunicorn's access log on): a socket opened with
``?token=`` or ``?ticket=`` and an HTTP request with credentials in its query string leave no credential in
the output, though the lines that name them are there (redacted). A socket opened the documented way (the
credential as a subprotocol) works through the real server."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from tests.security.live_site import MODES, Server, Site, raw_request, serving, site_create

pytestmark = pytest.mark.wall_clock

REDACTED = "[redacted]"
WAIT = 10.0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return site_create(tmp_path_factory.mktemp("logs"))


def ticket_from(server: Server, token: str) -> str:
    head = f"POST /api/auth/ws-ticket/ HTTP/1.1\nHost: 127.0.0.1\nConnection: close\nAuthorization: Bearer {token}"
    answer = raw_request(server.port, head)
    assert answer.status == 200, answer.body
    return str(answer.json()["ticket"])


async def close_code(url: str) -> int | str:
    """The code the server closes the socket with; ``"open"`` if it keeps it open."""
    async with connect(url, open_timeout=WAIT) as ws:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 3)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else "closed without a code"
        except TimeoutError:
            return "open"


async def ping_over(url: str, protocols: list[str]) -> tuple[str | None, object]:
    """The subprotocol the server chose and its answer to a ping (or the code it closed with)."""
    try:
        async with connect(url, subprotocols=protocols, open_timeout=WAIT) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            return ws.subprotocol, json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    except ConnectionClosed as closed:
        return None, closed.rcvd.code if closed.rcvd else None
    except (OSError, WebSocketException) as refused:  # the handshake itself failed (no subprotocol chosen)
        return None, str(refused)


@pytest.fixture(scope="module", params=list(MODES))
def written(request: pytest.FixtureRequest, site: Site) -> tuple[str, dict[str, str], dict[str, object]]:
    """Drives one server with credentials where they do not belong, stops it, and gives what it wrote."""
    extra = {"GUNICORN_CMD_ARGS": "--access-logfile -"} if request.param == "serve-production" else {}
    token = site.seed["owner_token"]
    with serving(request.param, site, **extra) as server:
        ws = f"ws://127.0.0.1:{server.ws_port}/ws/dashboard/"
        url_ticket, protocol_ticket = ticket_from(server, token), ticket_from(server, token)

        async def scenario() -> dict[str, object]:
            return {
                "token_in_url": await close_code(f"{ws}?since=0&token={token}"),
                "ticket_in_url": await close_code(f"{ws}?ticket={url_ticket}"),
                "ticket_as_protocol": await ping_over(ws, ["chalkboard", f"chalkboard.ticket.{protocol_ticket}"]),
                "token_as_protocol": await ping_over(ws, ["chalkboard", f"chalkboard.token.{token}"]),
            }

        outcome = asyncio.run(scenario())
        head = f"GET /api/me/?token={token}&ticket={url_ticket} HTTP/1.1\nHost: 127.0.0.1\nConnection: close"
        outcome["http"] = raw_request(server.port, head).status
    secrets = {"token": token, "url ticket": url_ticket, "protocol ticket": protocol_ticket}
    return server.output(), secrets, outcome


def test_credentials_in_the_url_are_refused_and_subprotocols_open_the_socket(written):
    _, _, outcome = written
    assert outcome == {
        "token_in_url": 4400,
        "ticket_in_url": 4400,
        "ticket_as_protocol": ("chalkboard", {"type": "pong"}),
        "token_as_protocol": ("chalkboard", {"type": "pong"}),
        "http": 401,
    }


def test_no_credential_reaches_a_servers_log(written):
    output, secrets, _ = written
    for name, secret in secrets.items():
        assert secret not in output, f"the {name} is in the log"
    # The lines were written, with the credential redacted: the test read the log that would have held it.
    assert f"/ws/dashboard/?since=0&token={REDACTED}" in output
    assert f"/ws/dashboard/?ticket={REDACTED}" in output


def test_an_access_log_keeps_the_request_line_without_its_credentials(written, request):
    output, _, _ = written
    if "make-serve" in request.node.callspec.id:
        pytest.skip("make serve runs without an access log")
    assert f"/api/me/?token={REDACTED}&ticket={REDACTED}" in output
