"""Telling connected dashboards that new events are in the log.

After a write commits, a small nudge ``{"type": "events.available", "id": <event id>}`` goes through the
channel layer to the groups the event concerns. The nudge only says "look again": channel-layer delivery is
at most once (``channels_redis`` drops messages past a channel's capacity, and Redis may be down), so no
correctness rests on it. Every consumer reads the events themselves from the durable log, by id, and also
polls it at a regular interval, so a lost nudge only delays an event until the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import BaseChannelLayer, channel_layers, get_channel_layer
from channels_redis.core import RedisChannelLayer

from chalkboard.common.breaker import RedisUnavailable

logger = logging.getLogger("chalkboard.realtime")

NUDGE_TYPE = "events.available"
# A writer never waits longer than this for the channel layer: its change is committed already. (Each
# command of our Redis layer gives up sooner, after REDIS_TIMEOUT_SECONDS, and not at all while Redis is
# known to be away: chalkboard.common.breaker.)
PUBLISH_TIMEOUT_SECONDS = 1.0


def staff_group(school_id: int) -> str:
    """Owners and admins of a school: every event of the school."""
    return f"school.{school_id}.staff"


def teacher_group(teacher_id: int, school_id: int) -> str:
    """One teacher in one school: the events about their own sessions, students and earnings there."""
    return f"teacher.{teacher_id}.school.{school_id}"


def event_groups(*, school_id: int, teacher_id: int | None) -> list[str]:
    groups = [staff_group(school_id)]
    if teacher_id is not None:
        groups.append(teacher_group(teacher_id, school_id))
    return groups


async def _send_all(layer: BaseChannelLayer, groups: list[str], message: dict[str, Any]) -> None:
    sends = [layer.group_send(group, message) for group in groups]
    await asyncio.wait_for(asyncio.gather(*sends), timeout=PUBLISH_TIMEOUT_SECONDS)


class SenderLoop:
    """An event loop that lives as long as the process, on a thread of its own, for nudges sent from sync
    code through the Redis channel layer.

    ``channels_redis`` keeps its Redis connections per event loop, and ``async_to_sync`` runs every call in
    a new loop: each nudge then opened new connections (3.6 ms a nudge, measured). On this loop they are
    opened once and reused (0.7 ms). The loop sends through a layer of its own, made from the same
    settings, so that nothing else (a flush, a consumer) ever touches connections bound to this loop. A
    forked child starts a loop of its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._source: BaseChannelLayer | None = None
        self._layer: BaseChannelLayer | None = None

    def send(self, layer: BaseChannelLayer, groups: list[str], message: dict[str, Any], *, timeout: float) -> None:
        loop, own = self._prepared(layer)
        asyncio.run_coroutine_threadsafe(_send_all(own, groups, message), loop).result(timeout)

    def _prepared(self, layer: BaseChannelLayer) -> tuple[asyncio.AbstractEventLoop, BaseChannelLayer]:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop, self._pid, self._source, self._layer = asyncio.new_event_loop(), os.getpid(), None, None
                threading.Thread(target=self._loop.run_forever, name="chalkboard-nudges", daemon=True).start()
            if self._source is not layer or self._layer is None:
                # The settings' layer was made anew (settings changed): follow it.
                if self._layer is not None:
                    closing = asyncio.run_coroutine_threadsafe(self._layer.close_pools(), self._loop)
                    with contextlib.suppress(Exception):  # the old connections are dropped either way
                        closing.result(PUBLISH_TIMEOUT_SECONDS)
                self._source, self._layer = layer, channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
            return self._loop, self._layer


_sender = SenderLoop()


def event_publish(*, event_id: int, school_id: int, teacher_id: int | None) -> None:
    """Nudge the consumers concerned by a committed event. Never raises: the writer's change is already
    committed, and a consumer that misses the nudge finds the event at its next poll."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": NUDGE_TYPE, "id": event_id}
    groups = event_groups(school_id=school_id, teacher_id=teacher_id)
    try:
        if isinstance(layer, RedisChannelLayer):
            _sender.send(layer, groups, message, timeout=PUBLISH_TIMEOUT_SECONDS + 1)
        else:
            # The in-process layer hands messages to consumers on the caller's loop: no loop of our own.
            async_to_sync(_send_all)(layer, groups, message)
    except RedisUnavailable:  # logged by the breaker, once per interval; dashboards poll the log
        pass
    except Exception:
        logger.warning("could not publish event %s; dashboards find it at their next poll", event_id, exc_info=True)
