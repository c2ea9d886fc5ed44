"""The Redis channel layer, sized for many dashboards per process, and behind the process's breaker.

``channels_redis`` gives each process one plain connection pool per event loop. Its defaults do not hold
up with a thousand sockets in one process, nor with a Redis that is gone or frozen:

- the pool fails with ``MaxConnectionsError`` once 100 commands are in flight, which a burst of
  connections or disconnections (every dashboard reconnecting after a deploy) reaches at once; here the
  pool waits for a free connection instead;
- redis-py's read timeout must stay above the layer's blocking pop, or an idle process's receive loop
  times out on a pop that was about to return; here the pop waits ``BRPOP_SECONDS`` and reads may take
  a second longer, which is also how long a frozen Redis takes to be noticed by an idle receive loop;
- every other command (joining and leaving groups, sending) gives up after ``REDIS_TIMEOUT_SECONDS``,
  and every command asks the breaker of its server first (``chalkboard.common.breaker``): while Redis is
  away, it fails at once with ``RedisUnavailable`` instead of waiting for a timeout again;
- a receive that fails, for want of Redis or for any other reason, does not raise into the consumer (which
  would die with an exception, and the client see 1006): it answers one ``{"type": "layer.unavailable"}``
  message to each channel, then waits quietly. A failure other than Redis being away is logged with its
  traceback. The consumer decides what to do (``DashboardConsumer.layer_unavailable``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer
from django.conf import settings
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from chalkboard.common.breaker import UNAVAILABLE, Breaker, RedisUnavailable, breaker_for

T = TypeVar("T")

POOL_SIZE = 200
# How long a command waits for a free connection before failing.
POOL_WAIT_SECONDS = 10
# The receive loop's blocking pop: an idle process asks Redis once a second.
BRPOP_SECONDS = 1
LAYER_UNAVAILABLE = "layer.unavailable"
logger = logging.getLogger("chalkboard.realtime")
_RECEIVE_UNAVAILABLE: tuple[type[BaseException], ...] = (RedisUnavailable, *UNAVAILABLE)


class RedisChannelLayer(BaseRedisChannelLayer):
    brpop_timeout = BRPOP_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.breaker: Breaker = breaker_for(str(self.hosts[0]["address"]))
        self.timeout = float(settings.REDIS_TIMEOUT_SECONDS)
        # Channels whose receive failed and were told so: they wait, quietly, until their consumer ends.
        self.unavailable_told: set[str] = set()

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        address = host.pop("address")
        host.setdefault("max_connections", POOL_SIZE)
        host.setdefault("timeout", POOL_WAIT_SECONDS)
        host.setdefault("socket_timeout", self.brpop_timeout + 1)
        host.setdefault("socket_connect_timeout", float(settings.REDIS_TIMEOUT_SECONDS))
        # A connection that went stale while Redis restarted is retried once on a new one (not a timeout).
        host.setdefault("retry", Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)))
        return BlockingConnectionPool.from_url(address, **host)

    async def guarded(self, call: Coroutine[Any, Any, T], *, timeout: float | None) -> T:
        """``call`` if the breaker lets it through, within ``timeout``; ``RedisUnavailable`` otherwise."""
        if not self.breaker.allow():
            call.close()  # never awaited: Redis is not asked
            raise RedisUnavailable(self.breaker.name)
        try:
            result = await (asyncio.wait_for(call, timeout) if timeout is not None else call)
        except UNAVAILABLE as error:
            self.breaker.failed(error)
            raise RedisUnavailable(self.breaker.name) from error
        except Exception:  # Redis answered (ChannelFull, say): it is there
            self.breaker.succeeded()
            raise
        self.breaker.succeeded()
        return result

    async def group_add(self, group: str, channel: str) -> None:
        await self.guarded(super().group_add(group, channel), timeout=self.timeout)

    async def group_discard(self, group: str, channel: str) -> None:
        await self.guarded(super().group_discard(group, channel), timeout=self.timeout)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self.guarded(super().group_send(group, message), timeout=self.timeout)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self.guarded(super().send(channel, message), timeout=self.timeout)

    async def _brpop_with_clean(self, index: int, channel: str, timeout: float) -> Any:
        # The pop blocks by design: the connection's read timeout bounds it, not the command timeout.
        return await self.guarded(super()._brpop_with_clean(index, channel, timeout), timeout=None)

    async def receive(self, channel: str) -> dict[str, Any]:
        if channel in self.unavailable_told:
            await asyncio.Event().wait()  # until the consumer ends and cancels this receive
        try:
            return dict(await super().receive(channel))
        except _RECEIVE_UNAVAILABLE:  # logged by the breaker, once per interval
            pass
        except Exception:  # anything else Redis or the layer raised is a bug to see, but still no 1006
            logger.exception("the channel layer could not receive; telling the consumer its channel failed")
        self.unavailable_told.add(channel)
        return {"type": LAYER_UNAVAILABLE}

    def forget(self, channel: str) -> None:
        """The consumer of ``channel`` has ended."""
        self.unavailable_told.discard(channel)
