"""One reader of the event log per process, for every dashboard socket the process holds.

Each socket server process has one ``Hub`` (per event loop). The hub reads each new event from the log once
and offers it to every connection whose audience hears it, so the log costs one query per batch of events
whatever the number of connections; each connection then sends from its own queue, so a slow client only
ever waits for itself. The hub reads when an announcement (``chalkboard.realtime.publishing``: one per
transaction, from Redis or from a writer in the same process) names an event it has not read, and also every
``LOG_POLL_SECONDS``, so a lost announcement delays an event by at most that long. Every
``RECHECK_SECONDS`` it re-checks the token and the roles of every connection in one database call, and
each connection follows the answer (closing when its token is no longer valid or no role hears events).

The hub reads only up to the log's horizon, the id below which every writer has ended
(``chalkboard.realtime.log``), and remembers that horizon as its ``last_id``: so "every event after
``last_id``" is exactly what the hub has not offered yet, and no event that commits late is passed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from chalkboard.realtime.db import database_call
from chalkboard.realtime.log import event_horizon_read, event_writers_running
from chalkboard.realtime.publishing import announcements_follow, local_hub_add, local_hub_remove
from chalkboard.realtime.selectors import Audience, audiences_of_tokens, event_messages_of_every_school_after

logger = logging.getLogger("chalkboard.realtime")

# How often the log is read without a nudge: the longest a lost nudge delays an event. One query a process.
LOG_POLL_SECONDS = 1.0
# How often every connection's token and roles are re-checked: two queries a process, whatever its size.
RECHECK_SECONDS = 10.0
# Events read per query; a backlog is read in batches of this size.
BATCH_SIZE = 200
# While writers of the log that may hold ids below the horizon are still running, the hub looks again after
# this long, doubling up to the maximum: services emit last, so that is usually the time of a commit.
HORIZON_FIRST_WAIT = 0.001
HORIZON_MAX_WAIT = 0.05


@dataclass(frozen=True)
class Message:
    """An event as every connection that hears it sends it: its JSON text, made once."""

    id: int
    school_id: int
    teacher_id: int | None
    text: str


class Listener(Protocol):
    """A connection, as the hub sees it."""

    user_id: int
    token_digest: str
    audience: Audience

    def offer(self, message: Message) -> None:
        """Queue the message to be sent (never waits)."""

    async def follow(self, audience: Audience | None) -> bool:
        """Follow the viewer's current audience; close (and answer ``False``) when there is none."""

    async def fail(self) -> None:
        """Close: the log could not be read. The client resumes with ``?since=`` and loses nothing."""


class Hub:
    def __init__(self) -> None:
        self.listeners: set[Listener] = set()
        self.last_id: int | None = None
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.starting = asyncio.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop of ``run``, while it runs

    async def join(self, listener: Listener) -> None:
        """From now on the listener is offered every event it hears that commits after the hub's last read;
        the events before that are in the log, where the listener's own replay finds them."""
        async with self.starting:
            if self.last_id is None:
                self.last_id = await self.horizon(after_id=0)
            self.listeners.add(listener)
        if self.task is None:
            self.task = asyncio.create_task(self.run())

    def leave(self, listener: Listener) -> None:
        self.listeners.discard(listener)
        if not self.listeners and self.task is not None:
            # Nobody listens: stop, and start from the then newest event when somebody joins again.
            self.task.cancel()
            self.task, self.last_id = None, None

    def nudge(self, event_id: int) -> None:
        if self.last_id is not None and event_id > self.last_id:
            self.wake.set()

    def nudge_from_any_thread(self, event_id: int) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.nudge, event_id)

    async def run(self) -> None:
        # Re-checks run beside the reads: a re-check of a thousand connections must not hold up an event.
        checks = asyncio.create_task(self.recheck_every_interval())
        # Announcements: from Redis, where there is one; from writers in this process, always.
        follow = (
            asyncio.create_task(announcements_follow(self.nudge, on_subscribed=self.wake.set))
            if settings.REDIS_URL
            else None
        )
        self.loop = asyncio.get_running_loop()
        local_hub_add(self)
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=LOG_POLL_SECONDS)
                self.wake.clear()
                try:
                    await self.read()
                except Exception:
                    logger.exception("reading the event log failed; closing this process's dashboards")
                    await self.fail_all()
        finally:
            local_hub_remove(self)
            checks.cancel()
            if follow is not None:
                follow.cancel()

    async def recheck_every_interval(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                await self.recheck()
            except Exception:
                logger.exception("re-checking the dashboards' tokens failed; closing this process's dashboards")
                await self.fail_all()

    async def fail_all(self) -> None:
        for listener in list(self.listeners):
            await listener.fail()

    async def horizon(self, *, after_id: int) -> int:
        """The log's horizon: the highest id handed out, once every writer that may hold an id up to it has
        ended (``chalkboard.realtime.log``). Waits on the event loop, never on a database thread."""
        found = await database_call(event_horizon_read)(after_id=after_id)
        writers, delay = found.writers, HORIZON_FIRST_WAIT
        while writers:
            await asyncio.sleep(delay)
            delay = min(delay * 2, HORIZON_MAX_WAIT)
            writers = await database_call(event_writers_running)(writers)
        return found.latest

    async def read(self) -> None:
        """Offer every event after the last one read, up to the log's horizon, to the listeners that hear it,
        in id order."""
        if not self.listeners or self.last_id is None:
            return
        horizon = await self.horizon(after_id=self.last_id)
        while self.listeners and self.last_id is not None and self.last_id < horizon:
            rows = await database_call(event_messages_of_every_school_after)(
                after_id=self.last_id, upto_id=horizon, limit=BATCH_SIZE
            )
            for row in rows:
                message = Message(row["id"], row["school_id"], row["teacher_id"], json.dumps(row))
                for listener in self.listeners:
                    if listener.audience.hears(school_id=message.school_id, teacher_id=message.teacher_id):
                        listener.offer(message)
                self.last_id = message.id
            if len(rows) < BATCH_SIZE and self.last_id is not None:
                # Every id up to the horizon is read: the ids after the last event were rolled back.
                self.last_id = horizon

    async def recheck(self) -> None:
        listeners = list(self.listeners)
        audiences = await database_call(audiences_of_tokens)(
            {(listener.user_id, listener.token_digest) for listener in listeners}
        )
        for listener in listeners:
            try:
                await listener.follow(audiences.get((listener.user_id, listener.token_digest)))
            except Exception:  # this connection only
                logger.warning("could not follow a dashboard's new roles; closing it", exc_info=True)
                await listener.fail()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub()
    return found
