from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.db import transaction

from chalkboard.accounts.models import User
from chalkboard.accounts.services import token_create
from chalkboard.realtime import hub
from chalkboard.realtime.models import Event, EventType
from chalkboard.realtime.services import event_emit
from config.asgi import application

WS_PATH = "/ws/dashboard/"
TIMEOUT = 3
# After the server closed a socket, how long the test waits for the consumer to end once told the client is
# gone, before cancelling it. Nothing is asserted of that wait: the close code and what came before it are
# already known.
CLOSED_WAIT = 0.5


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Runs an ``async def`` test in its own event loop; database calls made through
    ``database_sync_to_async`` come back to the test's thread (and its database connection)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        async_to_sync(test)(*args, **kwargs)

    return wrapper


@pytest.fixture
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> float:
    """The hub polls the log, and re-checks every connection's token and roles, every 0.1 s."""
    monkeypatch.setattr(hub, "LOG_POLL_SECONDS", 0.1)
    monkeypatch.setattr(hub, "RECHECK_SECONDS", 0.1)
    return 0.1


@pytest.fixture
def no_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub never polls within a test: anything a connection receives came by a nudge (or its replay)."""
    monkeypatch.setattr(hub, "LOG_POLL_SECONDS", 3600.0)
    monkeypatch.setattr(hub, "RECHECK_SECONDS", 3600.0)


def bearer(user: User) -> list[tuple[bytes, bytes]]:
    token, _ = token_create(user=user)
    return [(b"authorization", f"Bearer {token}".encode())]


async def abearer(user: User) -> list[tuple[bytes, bytes]]:
    return await database_sync_to_async(bearer)(user)


def ticket_protocols(ticket: str) -> list[str]:
    """The subprotocols a browser offers to open the socket with a ticket."""
    return ["chalkboard", f"chalkboard.ticket.{ticket}"]


async def open_socket(
    headers: list[tuple[bytes, bytes]] | None = None, query: str = "", protocols: list[str] | None = None
) -> tuple[WebsocketCommunicator, bool]:
    path = f"{WS_PATH}?{query}" if query else WS_PATH
    communicator = WebsocketCommunicator(application, path, headers=headers or [], subprotocols=protocols)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected


async def connect_as(user: User, query: str = "") -> WebsocketCommunicator:
    """An open, authenticated dashboard socket of ``user``."""
    communicator, connected = await open_socket(await abearer(user), query)
    assert connected
    return communicator


async def closed_with(communicator: WebsocketCommunicator) -> int:
    """The close code the server ends the connection with (after any messages it sent before)."""
    while True:
        output = await communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            # As a server does once the socket is closed.
            await communicator.disconnect(code=output["code"], timeout=CLOSED_WAIT)
            return int(output["code"])


async def receive(communicator: WebsocketCommunicator, count: int = 1) -> list[dict[str, Any]]:
    return [await communicator.receive_json_from(timeout=TIMEOUT) for _ in range(count)]


def emit(
    school_id: int,
    teacher_id: int | None,
    type: EventType = EventType.SESSION_UPDATED,
    data: dict[str, Any] | None = None,
) -> Event:
    """An event emitted by a committed write, as a service would."""
    with transaction.atomic():
        return event_emit(type=type, school_id=school_id, teacher_id=teacher_id, data=data or {})


aemit = database_sync_to_async(emit)
