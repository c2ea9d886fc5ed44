"""The Redis channel layer, sized for many dashboards per process.

``channels_redis`` gives each process one plain connection pool per event loop. Two of its defaults do not
hold up with a thousand sockets in one process:

- the pool fails with ``MaxConnectionsError`` once 100 commands are in flight, which a burst of
  connections or disconnections (every dashboard reconnecting after a deploy) reaches at once; here the
  pool waits for a free connection instead;
- redis-py's read timeout (5 s) equals the layer's blocking-pop timeout (5 s), so an idle process's
  receive loop sometimes times out on a pop that was about to return, and the socket it was receiving
  for is dropped; here reads may take longer than the pop.
"""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer
from redis.asyncio import BlockingConnectionPool

POOL_SIZE = 200
# How long a command waits for a free connection before failing.
POOL_WAIT_SECONDS = 10
CONNECT_TIMEOUT_SECONDS = 2


class RedisChannelLayer(BaseRedisChannelLayer):
    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        address = host.pop("address")
        host.setdefault("max_connections", POOL_SIZE)
        host.setdefault("timeout", POOL_WAIT_SECONDS)
        host.setdefault("socket_timeout", self.brpop_timeout + 5)
        host.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_SECONDS)
        return BlockingConnectionPool.from_url(address, **host)
