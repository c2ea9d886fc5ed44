"""The dashboard socket: ``/ws/dashboard/``.

Each connection relays, in id order and exactly once, the events of the log its viewer may see. The log in
the database is the source of truth. A new connection replays what it asked for (``?since=``) from the log
itself; from then on the process's ``Hub`` reads each new event once for all its connections and offers it
to those that hear it. Announcements (``chalkboard.realtime.publishing``) only tell the hub to read again,
and the hub also reads at a short interval, so an announcement that is lost (Redis away) delays an event,
never loses it. Every connection sends from its own queue: a slow client only ever waits for itself. The
protocol is described in ``docs/realtime.md``.

A connection touches no channel layer and no Redis: while Redis is away, sockets stay open and are served
from the log, read by the hub every second, until the hub's subscription to announcements is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from chalkboard.accounts.models import User
from chalkboard.realtime.auth import accepted_protocol, query_params
from chalkboard.realtime.db import database_call
from chalkboard.realtime.hub import Hub, Message, hub
from chalkboard.realtime.selectors import Audience, event_messages_after, replay_start
from chalkboard.schools.access import Viewer

logger = logging.getLogger("chalkboard.realtime")

# Close codes (documented in docs/realtime.md).
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_INTERNAL_ERROR = 1011

# Events read per query when a connection replays from the log; a backlog is sent in batches of this size.
BATCH_SIZE = 200
# Events a connection holds for a client that does not read; past this it forgets them and reads the log
# again once the client catches up (memory stays bounded, nothing is lost).
OUTBOX_LIMIT = 1_000
MESSAGE_NOT_JSON = "Messages must be JSON text."
MESSAGE_UNKNOWN = 'Unknown message: the only message a client sends is {"type": "ping"}.'
SINCE_INVALID = "since must be the id of the last event received: a non-negative integer."
CREDENTIALS_IN_URL = (
    "Credentials never go in the URL (it is written to logs): offer the subprotocols chalkboard and "
    "chalkboard.ticket.<ticket>, or send an Authorization header. A ticket sent in the URL is spent."
)


def audience_load(user: User) -> Audience:
    """The user's audience from their current roles (the same ``Viewer`` as every HTTP request)."""
    return Audience.of(Viewer.for_user(user))


def parse_since(value: str | None) -> int | None:
    """``?since=`` as an event id; raises ``ValueError`` for anything but a non-negative integer."""
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        raise ValueError(value)
    return int(value)


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """Authenticated by ``chalkboard.realtime.auth.TokenAuthMiddleware``; relays the viewer's events."""

    audience: Audience
    last_id = 0
    user_id: int
    token_digest: str
    hub: Hub | None = None
    pump: asyncio.Task[None] | None = None
    accepted = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the connection; if anything raises after the handshake, close it with 1011 (and log why)
        rather than let the server drop it, which a client sees as 1006, the code of a network failure."""
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            if not self.accepted:
                raise  # the server answers the handshake with a 500
            logger.exception("dashboard connection failed; closing it with 1011")
            with contextlib.suppress(Exception):
                await self.end(CLOSE_INTERNAL_ERROR)
            with contextlib.suppress(Exception):
                await self.disconnect(CLOSE_INTERNAL_ERROR)

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol=subprotocol, headers=headers)
        self.accepted = True

    async def connect(self) -> None:
        user: User | None = self.scope.get("user")
        token_digest: str | None = self.scope.get("token_digest")
        self.outbox: asyncio.Queue[Message | None] = asyncio.Queue()
        if self.scope.get("credentials_in_url"):
            await self.refuse(CLOSE_BAD_REQUEST, CREDENTIALS_IN_URL)
            return
        if user is None or token_digest is None:
            await self.refuse(CLOSE_UNAUTHORIZED)
            return
        self.user_id, self.token_digest = user.pk, token_digest
        try:
            since = parse_since(query_params(self.scope).get("since"))
        except ValueError:
            await self.refuse(CLOSE_BAD_REQUEST, SINCE_INVALID)
            return
        self.audience = await database_call(audience_load)(user)
        if self.audience.hears_nothing:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        # Join, then read where to start, then accept: every event that commits after the client sees the
        # handshake complete is offered by the hub, and has an id above the starting point.
        self.hub = hub()
        await self.hub.join(self)
        self.last_id, resync = await database_call(replay_start)(
            audience=self.audience, since=since, horizon=self.hub.last_id or 0
        )
        await self.accept(subprotocol=accepted_protocol(self.scope))
        if resync is not None:
            await self.send_json({"type": "resync", "reason": resync, "id": self.last_id})
        self.pump = asyncio.create_task(self.relay())

    async def refuse(self, code: int, message: str | None = None) -> None:
        """Accept, then close with ``code``: a browser sees the code of a closed connection, whereas a
        refused handshake reaches its code only as 1006, the same as a network failure."""
        await self.accept(subprotocol=accepted_protocol(self.scope))
        if message is not None:
            await self.send_json({"type": "error", "message": message})
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self.hub is not None:
            self.hub.leave(self)
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pump

    # --- From the client. ---------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        try:
            content = json.loads(text_data) if text_data is not None else None
        except ValueError:
            content = None
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "message": MESSAGE_NOT_JSON})
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "message": MESSAGE_UNKNOWN})

    # --- From the hub. ------------------------------------------------------------------------------
    def offer(self, message: Message) -> None:
        if self.outbox.qsize() >= OUTBOX_LIMIT:
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(None)  # read the log again from the last id sent
        self.outbox.put_nowait(message)

    async def follow(self, audience: Audience | None) -> bool:
        """Close the connection once its token is no longer valid (4401) or its viewer has no role left
        that hears events (4403); otherwise follow the viewer's current roles."""
        if audience is None:
            await self.end(CLOSE_UNAUTHORIZED)
            return False
        if audience.hears_nothing:
            await self.end(CLOSE_FORBIDDEN)
            return False
        if audience != self.audience:
            self.audience = audience
            # The hub may have passed over events the new roles hear: read them from the log.
            self.outbox.put_nowait(None)
        return True

    async def fail(self) -> None:
        await self.end(CLOSE_INTERNAL_ERROR)

    async def end(self, code: int) -> None:
        """Stop listening and close with ``code``."""
        if self.hub is not None:
            self.hub.leave(self)
        with contextlib.suppress(OSError):
            await self.close(code=code)

    # --- The relay: one task per connection. ------------------------------------------------------
    async def relay(self) -> None:
        """Send what the log holds after ``last_id``, then every event the hub offers, in id order."""
        try:
            await self.replay()
            while True:
                message = await self.outbox.get()
                if message is None:
                    await self.replay()
                elif message.id > self.last_id:
                    await self.send(text_data=message.text)
                    self.last_id = message.id
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if isinstance(error, OSError) and not isinstance(error, TimeoutError):
                # The client has gone: ASGI servers raise an OSError on sending to a closed socket, and
                # then tell the consumer, which stops.
                return
            # The client reconnects with ?since= and loses nothing.
            logger.exception("dashboard relay failed; closing the connection")
            await self.fail()

    async def replay(self) -> None:
        """Send every visible event after ``last_id`` from the log, in batches, until it has no more."""
        while True:
            # Up to the hub's horizon: the hub offers what commits after it.
            horizon = self.hub.last_id if self.hub is not None else None
            if horizon is None or horizon <= self.last_id:
                return
            messages = await database_call(event_messages_after)(
                audience=self.audience, after_id=self.last_id, upto_id=horizon, limit=BATCH_SIZE
            )
            for message in messages:
                await self.send(text_data=json.dumps(message))
                self.last_id = message["id"]
            if len(messages) < BATCH_SIZE:
                return
