"""No credential travels in a socket's URL, which servers and proxies write to their logs: a browser offers its
ticket (or token) as a subprotocol; a URL that carries one is refused with 4400 and a ticket found there is
spent."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator

from chalkboard.accounts.services import token_create
from chalkboard.realtime.consumers import CLOSE_BAD_REQUEST, CLOSE_UNAUTHORIZED
from chalkboard.realtime.models import WebSocketTicket
from config.asgi import application
from tests.conftest import client_for
from tests.realtime.conftest import WS_PATH, run_async, ticket_protocols

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 3


def new_ticket(user) -> str:
    response = client_for(user).post("/api/auth/ws-ticket/")
    assert response.status_code == 200
    return response.json()["ticket"]


aticket = database_sync_to_async(new_ticket)
atoken = database_sync_to_async(lambda user: token_create(user=user)[0])


async def handshake(path=WS_PATH, *, protocols=None, headers=None):
    communicator = WebsocketCommunicator(application, path, headers=headers or [], subprotocols=protocols)
    connected, protocol = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator, protocol


async def assert_open(communicator) -> None:
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    await communicator.disconnect()


async def closed(communicator) -> tuple[list[dict], int]:
    """What the server said before closing, and its close code."""
    said = []
    while True:
        output = await communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            await communicator.disconnect(code=output["code"])
            return said, output["code"]
        said.append(output)


@run_async
async def test_a_ticket_offered_as_a_subprotocol_opens_the_socket_and_the_answer_names_only_chalkboard(world):
    communicator, protocol = await handshake(protocols=ticket_protocols(await aticket(world.admin)))
    assert protocol == "chalkboard"
    await assert_open(communicator)


@run_async
async def test_a_token_offered_as_a_subprotocol_opens_the_socket(world):
    token = await atoken(world.teacher.user)
    communicator, protocol = await handshake(protocols=["chalkboard", f"chalkboard.token.{token}"])
    assert protocol == "chalkboard"
    await assert_open(communicator)


@run_async
async def test_a_ticket_in_the_url_is_refused_with_4400_and_spent(world):
    ticket = await aticket(world.admin)

    communicator, _ = await handshake(f"{WS_PATH}?ticket={ticket}")
    said, code = await closed(communicator)

    assert code == CLOSE_BAD_REQUEST
    assert len(said) == 1
    assert "Credentials never go in the URL" in said[0]["text"]
    assert not await database_sync_to_async(WebSocketTicket.objects.exists)()
    # Whoever read it in a log cannot use it.
    communicator, _ = await handshake(protocols=ticket_protocols(ticket))
    assert (await closed(communicator))[1] == CLOSE_UNAUTHORIZED


@pytest.mark.parametrize("name", ["token", "TOKEN", "access_token", "authorization"])
@run_async
async def test_a_token_in_the_url_is_refused_with_4400_even_beside_a_good_credential(world, name):
    token = await atoken(world.admin)
    headers = [(b"authorization", f"Bearer {token}".encode())]

    communicator, _ = await handshake(f"{WS_PATH}?since=0&{name}={token}", headers=headers)

    assert (await closed(communicator))[1] == CLOSE_BAD_REQUEST
