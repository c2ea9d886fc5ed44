"""The dashboard socket: ``/ws/dashboard/``.

Each connection relays, in id order and exactly once, the events of the log its viewer may see. The log in
the database is the source of truth; the channel layer only nudges a connection to look again, and every
connection also looks again every ``POLL_SECONDS``, so a nudge that is lost (Redis down, a channel over
capacity) delays an event, never loses it. One task per connection reads the log and sends: a slow client
only ever waits for itself. The protocol is described in ``docs/realtime.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from chalkboard.accounts.models import User
from chalkboard.realtime.auth import query_params
from chalkboard.realtime.db import database_call
from chalkboard.realtime.selectors import Audience, event_messages_after, replay_start, token_valid
from chalkboard.schools.access import Viewer

logger = logging.getLogger("chalkboard.realtime")

# Close codes (documented in docs/realtime.md).
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_INTERNAL_ERROR = 1011

# How often a connection reads the log without a nudge, and re-checks its token and its viewer's roles.
POLL_SECONDS = 10.0
# Events read per query; a backlog is sent in batches of this size.
BATCH_SIZE = 200

MESSAGE_NOT_JSON = "Messages must be JSON text."
MESSAGE_UNKNOWN = 'Unknown message: the only message a client sends is {"type": "ping"}.'
SINCE_INVALID = "since must be the id of the last event received: a non-negative integer."


def audience_load(user: User) -> Audience:
    """The user's audience from their current roles (the same ``Viewer`` as every HTTP request)."""
    return Audience.of(Viewer.for_user(user))


def audience_recheck(user_id: int, token_digest: str) -> Audience | None:
    """The audience of the connection's token while that token is valid; ``None`` once it is not."""
    token = token_valid(digest=token_digest)
    if token is None or token.user_id != user_id:
        return None
    return audience_load(token.user)


def audience_and_events(
    user_id: int, token_digest: str, after_id: int, limit: int
) -> tuple[Audience | None, list[dict[str, Any]]]:
    """The periodic check in one trip to the database: the connection's audience while its token is valid
    (``None`` once it is not), and the events that audience may see after ``after_id``."""
    audience = audience_recheck(user_id, token_digest)
    if audience is None or audience.hears_nothing:
        return audience, []
    return audience, event_messages_after(audience=audience, after_id=after_id, limit=limit)


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
    pump: asyncio.Task[None] | None = None
    joined: frozenset[str] = frozenset()

    async def connect(self) -> None:
        user: User | None = self.scope.get("user")
        token_digest: str | None = self.scope.get("token_digest")
        self.wake = asyncio.Event()
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
        # handshake complete is nudged or polled for, and has an id above the starting point.
        await self.groups_follow(self.audience)
        self.last_id, resync = await database_call(replay_start)(audience=self.audience, since=since)
        await self.accept()
        if resync is not None:
            await self.send_json({"type": "resync", "reason": resync, "id": self.last_id})
        self.pump = asyncio.create_task(self.relay())

    async def refuse(self, code: int, message: str | None = None) -> None:
        """Accept, then close with ``code``: a browser sees the code of a closed connection, whereas a
        refused handshake reaches its code only as 1006, the same as a network failure."""
        await self.accept()
        if message is not None:
            await self.send_json({"type": "error", "message": message})
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pump
        try:
            await self.groups_follow(None)
        except Exception:  # the channel layer is unreachable: the memberships expire on their own
            logger.warning("could not leave the dashboard groups", exc_info=True)

    async def groups_follow(self, audience: Audience | None) -> None:
        """Join the groups the audience hears and leave the others."""
        wanted = audience.groups if audience is not None else frozenset()
        for group in sorted(wanted - self.joined):
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined |= {group}
        for group in sorted(self.joined - wanted):
            await self.channel_layer.group_discard(group, self.channel_name)
            self.joined -= {group}

    # --- From the channel layer. ------------------------------------------------------------------
    async def events_available(self, message: dict[str, Any]) -> None:
        if message.get("id", 0) > self.last_id:
            self.wake.set()

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

    # --- The relay: one task per connection. ------------------------------------------------------
    async def relay(self) -> None:
        """Send what the log holds after ``last_id``, then again on every nudge and every poll interval,
        re-checking the token and the viewer's roles at each interval (in the same database call)."""
        loop = asyncio.get_running_loop()
        # Spread the polls of connections opened together over the interval (jitter, not a secret).
        next_check = loop.time() + POLL_SECONDS * random.uniform(0.5, 1.0)  # noqa: S311  # nosec B311
        try:
            await self.drain()
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=max(0.0, next_check - loop.time()))
                if loop.time() < next_check:
                    await self.drain()
                    continue
                self.wake.clear()
                audience, messages = await database_call(audience_and_events)(
                    self.user_id, self.token_digest, self.last_id, BATCH_SIZE
                )
                if not await self.follow(audience):
                    return
                next_check = loop.time() + POLL_SECONDS
                await self.drain(messages)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if isinstance(error, OSError) and not isinstance(error, TimeoutError):
                # The client has gone: ASGI servers raise an OSError on sending to a closed socket, and
                # then tell the consumer, which stops.
                return
            # The client reconnects with ?since= and loses nothing.
            logger.exception("dashboard relay failed; closing the connection")
            with contextlib.suppress(OSError):
                await self.close(code=CLOSE_INTERNAL_ERROR)

    async def drain(self, messages: list[dict[str, Any]] | None = None) -> None:
        """Send every visible event after ``last_id``, in batches, until the log has no more (starting with
        ``messages`` when they were just read)."""
        while True:
            if messages is None:
                self.wake.clear()
                messages = await database_call(event_messages_after)(
                    audience=self.audience, after_id=self.last_id, limit=BATCH_SIZE
                )
            for message in messages:
                await self.send_json(message)
                self.last_id = message["id"]
            if len(messages) < BATCH_SIZE:
                return
            messages = None

    async def follow(self, audience: Audience | None) -> bool:
        """Close the connection once its token is no longer valid (4401) or its viewer has no role left
        that hears events (4403); otherwise follow the viewer's current roles."""
        if audience is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return False
        if audience.hears_nothing:
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        if audience != self.audience:
            await self.groups_follow(audience)
            self.audience = audience
        return True
