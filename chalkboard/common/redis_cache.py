"""django-redis behind the process's breaker for its server (``chalkboard.common.breaker``).

Each call asks the breaker first: while Redis is known to be away, it answers at once what django-redis
answers with ``IGNORE_EXCEPTIONS`` for a failed call (``None``, the default, an empty dict), without waiting
for a timeout and without a traceback in the log. A call that fails for want of Redis opens the breaker
and answers the same. Anything else (a missing key for ``incr``, a bad value) is raised as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django_redis.cache import RedisCache

from chalkboard.common.breaker import UNAVAILABLE, Breaker, breaker_for


def _none(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return None


def _default(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs.get("default", args[1] if len(args) > 1 else None)


def _empty(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return {}


# Every method Chalkboard (or Django) calls, and what it answers without Redis.
_WITHOUT_REDIS: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {
    "get": _default,
    "get_many": _empty,
    "set": _none,
    "set_many": _none,
    "add": _none,
    "incr": _none,
    "decr": _none,
    "delete": _none,
    "delete_many": _none,
    "touch": _none,
    "has_key": _none,
    "ttl": _none,
    "clear": _none,
}


def _guarded(name: str, without_redis: Callable[[tuple[Any, ...], dict[str, Any]], Any]) -> Any:
    def method(self: BreakerRedisCache, *args: Any, **kwargs: Any) -> Any:
        if not self.breaker.allow():
            return without_redis(args, kwargs)
        try:
            result = getattr(RedisCache, name)(self, *args, **kwargs)
        except UNAVAILABLE as error:
            self.breaker.failed(error)
            return without_redis(args, kwargs)
        except Exception:  # Redis answered (a missing key for incr, say): it is there
            self.breaker.succeeded()
            raise
        self.breaker.succeeded()
        return result

    method.__name__ = name
    method.__doc__ = getattr(RedisCache, name).__doc__
    return method


class BreakerRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        # django-redis raises, and the guard answers for it: once per interval in the log, not per call.
        self._ignore_exceptions = False
        self._log_ignored_exceptions = False
        self.breaker: Breaker = breaker_for(server if isinstance(server, str) else server[0])

    def incr_versions(self, keys: Iterable[str], timeout: int, *, publish: tuple[str, str] | None = None) -> bool:
        """Add one to each key (a missing key starts at 1), and keep each ``timeout`` seconds from now; then,
        when asked, publish ``(channel, message)`` to the channel's subscribers: one round trip for it all,
        run by Redis in that order. ``False`` when Redis does not take them (the breaker's answer, as for any
        call). The values are the integers ``add`` and ``get`` write and read."""
        if not self.breaker.allow():
            return False
        try:
            pipe = self.client.get_client(write=True).pipeline(transaction=False)
            for key in keys:
                made = self.make_and_validate_key(key)
                pipe.incr(made)
                pipe.expire(made, timeout)
            if publish is not None:
                pipe.publish(*publish)
            pipe.execute()
        except UNAVAILABLE as error:
            self.breaker.failed(error)
            return False
        self.breaker.succeeded()
        return True

    def set_and_delete(self, key: str, value: Any, timeout: int, *, delete: str) -> None:
        """``set(key, value, timeout)``, then ``delete(delete)``: one round trip (a page stored, then the lock
        its builder held released). Without Redis, nothing (the breaker's answer, as for any call)."""
        if not self.breaker.allow():
            return
        try:
            client = self.client
            pipe = client.get_client(write=True).pipeline(transaction=False)
            pipe.set(self.make_and_validate_key(key), client.encode(value), px=timeout * 1000)
            pipe.delete(self.make_and_validate_key(delete))
            pipe.execute()
        except UNAVAILABLE as error:
            self.breaker.failed(error)
            return
        self.breaker.succeeded()


for _name, _answer in _WITHOUT_REDIS.items():
    setattr(BreakerRedisCache, _name, _guarded(_name, _answer))
