"""Fixed-window rate limits on the shared cache: one atomic ``INCR`` per request, shared by all workers.

DRF's stock throttles keep a list of timestamps per client and are not atomic under concurrency; a
counter per window is both cheaper and exact.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger("chalkboard.throttling")

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"30/min"`` → ``(30, 60)``."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period[0]]


def client_address(request: Request) -> str:
    return str(request.META.get("REMOTE_ADDR", "unknown"))


def window_hit(*, scope: str, ident: str, rate: str, cost: int = 1) -> tuple[bool, int]:
    """Count a hit against ``ident`` in the current window. Returns (allowed, seconds until the window ends)."""
    limit, period = parse_rate(rate)
    now = time.time()
    window = int(now // period)
    key = f"throttle:{scope}:{ident}:{window}"
    wait = max(1, int(period - (now % period)) + 1)
    try:
        count = _count(key, cost=cost, period=period)
    except Exception:  # without its cache the service still answers, unthrottled, rather than failing
        logger.warning("cache unavailable: %s not counted", scope)
        return True, wait
    return count <= limit, wait


def _count(key: str, *, cost: int, period: int) -> int:
    """One round trip for every request but the first of a window."""
    try:
        return cache.incr(key, cost) or 0
    except ValueError:  # the first hit of the window
        if cache.add(key, cost, timeout=period + 1):
            return cost
        return cache.incr(key, cost) or 0  # another process started the window first


def window_release(*, scope: str, ident: str, rate: str) -> None:
    """Take back one hit of the current window (a successful login does not count as a failure)."""
    _, period = parse_rate(rate)
    key = f"throttle:{scope}:{ident}:{int(time.time() // period)}"
    try:
        cache.decr(key)
    except ValueError:  # the window already expired: nothing to take back
        pass
    except Exception:
        logger.warning("cache unavailable: %s not released", scope)


def rate_for(scope: str) -> str:
    return str(api_settings.DEFAULT_THROTTLE_RATES[scope])


class UserThrottle(BaseThrottle):
    """Per authenticated user; per address for anonymous requests."""

    scope = "user"

    def __init__(self) -> None:
        self._wait = 0

    def allow_request(self, request: Request, view: Any) -> bool:
        user = getattr(request, "user", None)
        ident = f"u{user.pk}" if user is not None and user.is_authenticated else f"a{client_address(request)}"
        allowed, self._wait = window_hit(scope=self.scope, ident=ident, rate=rate_for(self.scope))
        return allowed

    def wait(self) -> float:
        return self._wait
