"""Telling the socket processes that new events are in the log.

After a transaction that wrote events commits, one announcement carries the newest id: on Redis, a
``PUBLISH`` to the deployment's announcement channel, in the same round trip as the transaction's cache
bumps (after them: a dashboard that refetches on the event reads the fresh page). Each socket process's hub
subscribes to that channel once (``announcements_follow``) and reads the log when an announcement names an
id it has not read. Without Redis (the embedded default, one process), the writer hands the id to the hubs
of its own process directly.

An announcement only says "look again": Redis may be away, and a subscriber that was reconnecting misses
what was published meanwhile, so no correctness rests on it. Every hub reads the events themselves from the
durable log, by id, and also polls it every second, so a lost announcement only delays an event until the
next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Protocol

import redis.asyncio as aioredis
from django.conf import settings

from chalkboard.common.breaker import UNAVAILABLE, Breaker, breaker_for
from chalkboard.common.cache import versions_bump

logger = logging.getLogger("chalkboard.realtime")

# A subscription that has heard nothing for this long pings Redis; one that hears nothing, not even the
# answer, for twice as long is given up and made again.
KEEPALIVE_SECONDS = 15.0


def announcements_channel() -> str:
    """The deployment's announcement channel on Redis (under its key prefix: deployments, and test
    processes, that share a Redis hear only their own)."""
    return f"{settings.CACHE_KEY_PREFIX}:events.available"


class LocalHub(Protocol):
    def nudge_from_any_thread(self, event_id: int) -> None: ...


# The running hubs of this process (chalkboard.realtime.hub), told directly what Redis did not carry.
_local_hubs: weakref.WeakSet[LocalHub] = weakref.WeakSet()
_local_hubs_lock = threading.Lock()


def local_hub_add(hub: LocalHub) -> None:
    with _local_hubs_lock:
        _local_hubs.add(hub)


def local_hub_remove(hub: LocalHub) -> None:
    with _local_hubs_lock:
        _local_hubs.discard(hub)


def events_announce(*, event_id: int, scopes: Iterable[str]) -> None:
    """After a commit: bump the cache versions of ``scopes``, then announce ``event_id``, the transaction's
    newest event. On Redis both go in one round trip; what Redis did not carry (it is away, or there is no
    Redis) is handed to this process's own hubs. Never raises: the writer's change is committed, and a hub
    that misses the announcement finds the event at its next poll."""
    published = versions_bump(scopes, publish=(announcements_channel(), str(event_id)))
    if published:
        return
    with _local_hubs_lock:
        hubs = list(_local_hubs)
    for hub in hubs:
        try:
            hub.nudge_from_any_thread(event_id)
        except Exception:  # a hub whose event loop has closed: nobody listens there any more
            logger.debug("a hub could not be nudged", exc_info=True)


async def announcements_follow(nudge: Callable[[int], None], *, on_subscribed: Callable[[], None]) -> None:
    """Subscribe to the announcement channel and nudge with each announced id, until cancelled. Runs only
    with Redis. While Redis is away, it tries again once per ``REDIS_RETRY_SECONDS`` (the breaker of the
    server reports the outage and the return once each); ``on_subscribed`` runs at each (re)subscription,
    so that the caller reads what was announced while it was not listening."""
    while True:
        breaker = breaker_for(settings.REDIS_URL)
        if breaker.allow():
            await _follow_once(nudge, on_subscribed=on_subscribed, breaker=breaker)
        await asyncio.sleep(float(settings.REDIS_RETRY_SECONDS))


async def _follow_once(nudge: Callable[[int], None], *, on_subscribed: Callable[[], None], breaker: Breaker) -> None:
    timeout = float(settings.REDIS_TIMEOUT_SECONDS)
    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout)
    pubsub = client.pubsub()
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(pubsub.subscribe(announcements_channel()), timeout)
        heard = loop.time()
        while True:
            message = await pubsub.get_message(timeout=KEEPALIVE_SECONDS)
            if message is None:
                # Quiet: ask Redis, so that an idle connection is neither dropped along the way nor lost
                # without anybody noticing (a connection gone without a reset answers nothing, not an error).
                if loop.time() - heard > 2 * KEEPALIVE_SECONDS:
                    raise TimeoutError("the announcement subscription went silent")
                await pubsub.ping()
                continue
            heard = loop.time()
            if message["type"] == "subscribe":
                # Redis confirms: every announcement from now on reaches this subscription.
                breaker.succeeded()
                on_subscribed()
            elif message["type"] == "message":
                with contextlib.suppress(ValueError, TypeError):
                    nudge(int(message["data"]))
    except UNAVAILABLE as error:  # logged by the breaker, once per interval
        breaker.failed(error)
    except Exception:
        logger.exception("the announcement subscription failed; subscribing again")
    finally:
        # Each close bounded in time: closing a connection whose read was just cancelled can wait on it
        # (redis-py #3941), and a follower being cancelled must end.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pubsub.aclose(), timeout)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.aclose(), timeout)
