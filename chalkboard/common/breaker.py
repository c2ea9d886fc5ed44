"""A circuit breaker per Redis server, per process: a Redis that is gone or frozen costs each process at
most one timeout per interval, and one log line per interval.

Redis holds nothing that the database cannot answer (cached pages, rate-limit counters, announcements to
the dashboards), so every client of it (the cache and the announcements that ride with its version bumps,
the throttles that count in it, the dashboards' subscription to announcements) asks its server's breaker
before each call. While the breaker is closed every call goes through. A call that fails for want of Redis
(refused, reset, timed out) opens it: for the next ``REDIS_RETRY_SECONDS`` every call is answered at once as
if Redis were empty, without touching the network. When the interval ends, the next call is let through as
a probe (only that one: the others keep answering at once); if it succeeds the breaker closes, else it
stays open another interval.

What "answered as if Redis were empty" means is each client's business: the cache reads as empty and pages
are built from the database; each throttle scope fails in its documented direction (SECURITY.md); the
dashboards' sockets stay open and are served from the log, read every second.

The breaker logs the first failure, then at most one line per interval for as long as Redis stays away
(with the number of calls that failed or were answered without it meanwhile), and one line when it
answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("chalkboard.redis")

# What "Redis is not there" looks like, from redis-py (sync and asyncio), django-redis and the OS. Redis'
# own answers (a wrong type, a missing key) are answers: they close the breaker.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionInterrupted,
    OSError,  # includes ConnectionError
    TimeoutError,  # includes asyncio.TimeoutError
)


class RedisUnavailable(Exception):
    """Redis did not answer, or its breaker is open: the caller goes on without it."""


class Breaker:
    def __init__(self, name: str, *, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._open_until = 0.0  # 0: closed
        self._logged_at: float | None = None
        self._unlogged = 0  # calls failed or answered without Redis since the last line

    @property
    def is_open(self) -> bool:
        return self._open_until != 0.0

    def allow(self) -> bool:
        """Whether a call may go to Redis now: always while closed; while open, one probe per interval."""
        if not self._open_until:
            return True
        with self._lock:
            now = self.clock()
            if not self._open_until:
                return True
            if now >= self._open_until:
                self._open_until = now + self.interval  # this call probes; the others wait for the next one
                return True
            self._unlogged += 1
            return False

    def succeeded(self) -> None:
        if not self._open_until:
            return
        with self._lock:
            if not self._open_until:
                return
            self._open_until, self._logged_at, skipped = 0.0, None, self._unlogged
            self._unlogged = 0
        logger.warning("%s answers again (%d calls went without it)", self.name, skipped)

    def failed(self, error: BaseException) -> None:
        with self._lock:
            now = self.clock()
            self._open_until = now + self.interval
            if self._logged_at is not None and now - self._logged_at < self.interval:
                self._unlogged += 1
                return
            self._logged_at, skipped = now, self._unlogged
            self._unlogged = 0
        logger.warning(
            "%s is unavailable (%s: %s): going on without it, trying again every %gs (%d more calls failed or "
            "went without it since the last report)",
            self.name,
            type(error).__name__,
            str(error)[:200],
            self.interval,
            skipped,
        )


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def server_of(location: str) -> str:
    """``host:port`` of a Redis URL: every client of one server shares its breaker."""
    parts = urlsplit(location.split(",")[0].strip())
    return f"redis {parts.hostname or 'localhost'}:{parts.port or 6379}"


def breaker_for(location: str) -> Breaker:
    name = server_of(location)
    with _breakers_lock:
        found = _breakers.get(name)
        if found is None:
            found = _breakers[name] = Breaker(name, interval=float(settings.REDIS_RETRY_SECONDS))
        return found


def breakers_reset() -> None:
    """Close every breaker, with the interval now set (tests: one test's outage must not reach the next).
    The breakers stay registered: the clients made before hold them."""
    with _breakers_lock:
        for breaker in _breakers.values():
            with breaker._lock:
                breaker._open_until, breaker._logged_at, breaker._unlogged = 0.0, None, 0
                breaker.interval = float(settings.REDIS_RETRY_SECONDS)
