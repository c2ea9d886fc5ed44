"""Every WebSocket route, every actor: what opening it does, and, for every change of the object, exactly
which events each actor then receives, with nothing in any message that the actor may not see.

The table is ``SOCKET_ROWS`` in ``matrix.py``, over the same scene and the same actors as the HTTP matrix.
In each test every actor has the route open at the same time, through the whole ASGI stack (origin check,
token middleware, router, consumer), with its own credential: the bearer token its HTTP requests carry, or
a ticket bought with that token (an actor who cannot buy one opens it with none). Then one change is made
by a real write, and each open connection is read up to a marker event emitted after the change and
addressed to that actor: ids are in commit order and a connection sends in id order, so what came before
the marker is everything the change sent it, and an actor that "hears nothing" provably heard nothing,
while listening.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing.websocket import WebsocketCommunicator
from django.db import transaction
from django.urls import URLPattern

from chalkboard.realtime import routing
from chalkboard.realtime.models import EventType
from chalkboard.realtime.services import event_emit
from config.asgi import application
from tests.conftest import SchoolWorld
from tests.realtime.conftest import CLOSED_WAIT, TIMEOUT, run_async
from tests.security.matrix import (
    ACTORS,
    EVENT_LETTERS,
    NOT_CONNECTED,
    OPEN,
    SOCKET_CHANGES,
    SOCKET_ROWS,
    SocketRow,
)
from tests.security.scene import Scene, build_scene, leaks, walk

pytestmark = pytest.mark.django_db(transaction=True)  # events are sent once the change commits

CREDENTIALS = ("bearer", "ticket")
CASES = [(row, change) for row in SOCKET_ROWS for change in row.hears]
MARKER = "matrix_marker"  # the key of a marker event's data: no real event has it
TEACHER_PERSONAS = ("teacher", "other_teacher")
# How long an answer the test is sure of may take (a ping's, a marker's): generous, it is only spent on failure.
WAIT = 10


@pytest.fixture
def scene(world: SchoolWorld, other_world: SchoolWorld) -> Scene:
    return build_scene(world, other_world)


@dataclass
class Listener:
    actor: str
    communicator: WebsocketCommunicator
    outcome: str  # ``ok``, a close code, or what else happened


def ticket_for(scene: Scene, actor: str) -> str | None:
    """A ticket bought over HTTP with the actor's token; ``None`` when the actor may not have one."""
    response = scene.client(actor).post("/api/auth/ws-ticket/")
    return response.json()["ticket"] if response.status_code == 200 else None


async def open_as(scene: Scene, row: SocketRow, actor: str, credential: str) -> Listener:
    """The actor's connection to the route, and what opening it did."""
    path, headers, protocols = row.path, [], None
    if credential == "bearer":
        authorization = scene.authorization(actor)
        if authorization is not None:
            headers.append((b"authorization", authorization.encode()))
    else:
        ticket = await database_sync_to_async(ticket_for)(scene, actor)
        if ticket is not None:
            protocols = ["chalkboard", f"chalkboard.ticket.{ticket}"]
    communicator = WebsocketCommunicator(application, path, headers=headers, subprotocols=protocols)
    connected, code = await communicator.connect(timeout=TIMEOUT)
    if not connected:
        return Listener(actor, communicator, f"handshake refused ({code})")
    return Listener(actor, communicator, await outcome(communicator))


async def outcome(communicator: WebsocketCommunicator) -> str:
    """``ok`` when the connection answers a ping; the close code when the server closes it first."""
    await communicator.send_json_to({"type": "ping"})
    try:
        output = await communicator.receive_output(timeout=WAIT)
    except TimeoutError:
        return "silent: neither closed nor answering a ping"
    if output["type"] == "websocket.close":
        return str(output.get("code", 1000))
    if output["type"] == "websocket.send" and json.loads(output["text"]) == {"type": "pong"}:
        return OPEN
    return f"unexpected {output!r}"


async def open_all(scene: Scene, row: SocketRow, credential: str) -> tuple[dict[str, Listener], list[str]]:
    """Every actor's connection, and the actors whose connection did not do what the row says."""
    listeners = {actor: await open_as(scene, row, actor, credential) for actor in ACTORS}
    problems = [
        f"{actor}: {listener.outcome} (expected {row.expect[actor]})"
        for actor, listener in listeners.items()
        if listener.outcome != row.expect[actor]
    ]
    return listeners, problems


async def close_all(listeners: dict[str, Listener]) -> None:
    """Every connection at once, each given ``CLOSED_WAIT`` to end (see there): nothing is asserted of it."""

    async def close(listener: Listener) -> None:
        code = int(listener.outcome) if listener.outcome.isdigit() else 1000
        await listener.communicator.disconnect(code=code, timeout=CLOSED_WAIT)

    await asyncio.gather(*(close(listener) for listener in listeners.values()))


def address_of(scene: Scene, actor: str) -> tuple[int, int | None]:
    """Where the actor's marker goes, addressed as real events are: their school, and their teacher id
    (``None``: to the school's staff)."""
    filled, role = scene.persona(actor)
    return filled.world.school.pk, getattr(filled.world, role).pk if role in TEACHER_PERSONAS else None


def emit_markers(scene: Scene, actors: list[str]) -> dict[str, int]:
    """One committed marker event per address, each actor's id. In each school the teachers' markers come
    before the staff's: staff hear them all, so for everyone their own marker is the last they may hear."""
    addresses = sorted({address_of(scene, actor) for actor in actors}, key=lambda a: (a[0], a[1] is None, a[1]))
    ids = {}
    for school_id, teacher_id in addresses:
        with transaction.atomic():
            event = event_emit(
                type=EventType.SESSION_UPDATED,
                school_id=school_id,
                teacher_id=teacher_id,
                data={MARKER: [school_id, teacher_id]},
            )
        ids[(school_id, teacher_id)] = event.pk
    return {actor: ids[address_of(scene, actor)] for actor in actors}


async def heard_up_to(communicator: WebsocketCommunicator, marker_id: int) -> tuple[list[dict[str, Any]], str | None]:
    """The events the connection sent before its marker (other actors' markers left out), and what went
    wrong, if anything: the marker never came, the connection closed, or more came after the marker."""
    messages: list[dict[str, Any]] = []
    while True:
        try:
            output = await communicator.receive_output(timeout=WAIT)
        except TimeoutError:
            return messages, "its marker never came"
        if output["type"] != "websocket.send":
            return messages, f"the connection ended: {output!r}"
        message = json.loads(output["text"])
        if message.get("id") == marker_id:
            break
        if MARKER not in (message.get("data") or {}):
            messages.append(message)
    if not await communicator.receive_nothing(timeout=0.2):
        return messages, f"more after its marker: {await communicator.receive_json_from()!r}"
    return messages, None


def message_problems(scene: Scene, actor: str, messages: list[dict[str, Any]]) -> list[str]:
    """What the messages show that the actor may not see: another school's data, another teacher's events,
    an admin note to a teacher, anything ``leaks`` finds."""
    school_id, teacher_id = address_of(scene, actor)
    problems = []
    for message in messages:
        schools = {value for key, value in walk(message) if key == "school_id"}
        if schools != {school_id}:
            problems.append(f"{actor}: event {message['id']} ({message['type']}) is about schools {sorted(schools)}")
        if teacher_id is not None and message["teacher_id"] != teacher_id:
            problems.append(f"{actor}: event {message['id']} is about teacher {message['teacher_id']}")
        if found := leaks(scene, actor, message):
            problems.append(f"{actor}: event {message['id']} ({message['type']}) shows {', '.join(sorted(set(found)))}")
    return problems


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("row", SOCKET_ROWS, ids=lambda row: row.name)
@run_async
async def test_socket_matrix_opens(row: SocketRow, credential: str, scene: Scene) -> None:
    """What opening the route does for each actor, with a bearer header or with a ticket."""
    listeners, problems = await open_all(scene, row, credential)
    await close_all(listeners)
    assert not problems, f"{row.name} ({credential})\n" + "\n".join(problems)


@pytest.mark.parametrize(("row", "change"), CASES, ids=[f"{row.name} {change}" for row, change in CASES])
@run_async
async def test_socket_matrix_hears(row: SocketRow, change: str, scene: Scene) -> None:
    """Who hears a change of the object, exactly, and what they are told."""
    listeners, problems = await open_all(scene, row, "bearer")
    try:
        await database_sync_to_async(SOCKET_CHANGES[change].make)(scene)
        listening = [actor for actor, listener in listeners.items() if listener.outcome == OPEN]
        markers = await database_sync_to_async(emit_markers)(scene, listening)
        expected = row.expect_events(change)
        reads = [heard_up_to(listeners[actor].communicator, markers[actor]) for actor in listening]
        heard = await asyncio.gather(*reads)
        for actor, (messages, trouble) in zip(listening, heard, strict=True):
            if trouble is not None:
                problems.append(f"{actor}: {trouble}")
            types = [message["type"] for message in messages]
            if expected[actor] is not None and types != expected[actor]:
                problems.append(f"{actor}: heard {types} (expected {expected[actor]})")
            problems += await database_sync_to_async(message_problems)(scene, actor, messages)
    finally:
        await close_all(listeners)
    assert not problems, f"{row.name}: {SOCKET_CHANGES[change].description}\n" + "\n".join(problems)


def test_the_socket_table_is_consistent() -> None:
    """Each row states every change, and an actor hears a change exactly when their connection is open."""
    for row in SOCKET_ROWS:
        assert set(row.hears) == set(SOCKET_CHANGES), row.name
        for change in row.hears:
            for actor, events in row.expect_events(change).items():
                assert (events is None) == (row.expect[actor] != OPEN), (row.name, change, actor)
        assert all(cell == OPEN or cell.isdigit() for cell in row.expect.values()), row.name
    assert set(EVENT_LETTERS.values()) == set(EventType.values)
    assert NOT_CONNECTED not in EVENT_LETTERS


# --- Every route is in the table. -------------------------------------------------------------------------


def _router_of(app: Any) -> URLRouter:
    """The URL router under the socket application's middleware (the origin check, the token middleware)."""
    while not isinstance(app, URLRouter):
        inner = getattr(app, "application", None) or getattr(app, "inner", None)
        assert inner is not None, f"no URL router under {app!r}: the walk below cannot see the routes"
        app = inner
    return app


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(route, pattern) for every endpoint, through nested routers."""
    for pattern in patterns:
        if isinstance(pattern.callback, URLRouter):
            yield from _walk(pattern.callback.routes, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern), pattern
            yield prefix + str(pattern.pattern), pattern


def socket_routes() -> set[str]:
    """Every WebSocket route: those the ASGI application serves, and those ``routing.py`` declares."""
    served = _router_of(application.application_mapping["websocket"]).routes
    return {route for route, _ in _walk(served)} | {route for route, _ in _walk(routing.websocket_urlpatterns)}


def socket_route_of(path: str) -> str | None:
    """The route the application's router sends the path to, as ``socket_routes`` spells it."""

    def resolve(patterns: list[Any], rest: str, prefix: str) -> str | None:
        for pattern in patterns:
            match = pattern.pattern.match(rest)
            if match is None:
                continue
            if isinstance(pattern.callback, URLRouter):
                return resolve(pattern.callback.routes, match[0], prefix + str(pattern.pattern))
            return prefix + str(pattern.pattern)
        return None

    router = _router_of(application.application_mapping["websocket"])
    return resolve(router.routes, path.split("?")[0].lstrip("/"), "")


def test_every_socket_route_is_in_the_matrix() -> None:
    routes = socket_routes()
    assert routes, "found no WebSocket route at all"
    covered = {socket_route_of(row.path) for row in SOCKET_ROWS}
    missing = sorted(routes - covered)
    assert not missing, f"WebSocket routes missing from the socket matrix: {missing}"
    stale = sorted(row.path for row in SOCKET_ROWS if socket_route_of(row.path) is None)
    assert not stale, f"Socket rows for routes that do not exist: {stale}"


def test_the_socket_matrix_has_one_row_per_route() -> None:
    keys = [socket_route_of(row.path) for row in SOCKET_ROWS]
    assert len(keys) == len(set(keys))
