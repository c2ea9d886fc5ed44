"""Fixed-window rate limits on the shared cache: one atomic ``INCR`` per request, shared by all workers.

DRF's stock throttles keep a list of timestamps per client and are not atomic under concurrency; a
counter per window is both cheaper and exact.

Scopes and their default rates are in ``config.settings.base.THROTTLE_RATES``; each can be set from the
environment as ``THROTTLE_<SCOPE>`` (``THROTTLE_DASHBOARD=60/min``). Every authenticated request counts against
``user``; the expensive endpoints named in ``ROUTE_SCOPES`` also count against their own, tighter scope.
The login endpoint counts its attempts itself (``chalkboard.accounts.lockout``).

Every counted request records its quota on the request, and ``RateLimitHeadersMiddleware`` turns the most
constrained one into ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` headers (IETF
draft "RateLimit header fields for HTTP"); a refused request also gets ``Retry-After``.

If the cache does not answer, most scopes let requests through uncounted: an outage of the cache must not
take the service down with it. The login scopes (``LOCAL_FALLBACK_SCOPES``) are counted in the process
instead, so that taking the cache down does not open the door to password guessing (see SECURITY.md for
the direction each scope fails in).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# URL name → the extra scope its requests count against, on top of ``user``.
ROUTE_SCOPES = {
    "teacher-dashboard": "dashboard",
    "auth-ws-ticket": "ws_ticket",
    "calendar-feed-ics": "calendar_feed",
}
EXPORT_ROUTES = {"teacher-earnings"}
EXPORT_FORMATS = {"csv"}

QUOTAS_ATTRIBUTE = "rate_limit_quotas"

# Scopes that, without the shared cache, are counted in each process rather than let through: a guesser's
# limit is then the rate times the number of processes, instead of none.
LOCAL_FALLBACK_SCOPES = frozenset({"login_address", "login_account_address", "login_account", "tokens_issued"})
# The process's own counters for those scopes: bounded (the oldest are culled past this many windows).
_local_counters = LocMemCache("chalkboard-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 20_000}})


def parse_rate(rate: str) -> tuple[int, int]:
    """``"30/min"`` → ``(30, 60)``."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period[0]]


def client_address(request: Request | HttpRequest) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy (``FORWARDED_ALLOW_IPS``),
    the address that proxy appended to ``X-Forwarded-For`` (the last one: those before it came from the
    client and prove nothing). Behind the proxy every peer is the proxy, and per-address limits would
    otherwise count every client as one."""
    peer = str(request.META.get("REMOTE_ADDR", "unknown"))
    if peer in settings.FORWARDED_ALLOW_IPS:
        forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", "")).rsplit(",", 1)[-1].strip()
        if forwarded:
            return forwarded
    return peer


@dataclass(frozen=True)
class Quota:
    """One scope's count in the current window, as seen by one request."""

    scope: str
    limit: int
    used: int
    reset: int  # seconds until the window ends (at least 1)

    @property
    def allowed(self) -> bool:
        return self.used <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


def quota_take(
    *, scope: str, ident: str, rate: str | None = None, cost: int = 1, request: Request | HttpRequest | None = None
) -> Quota | None:
    """Count a hit against ``ident`` in ``scope``'s current window; ``None`` when the cache did not answer
    (the request is then let through). With ``request``, the quota is kept for the response's headers."""
    limit, period = parse_rate(rate or rate_for(scope))
    now = time.time()
    key = f"throttle:{scope}:{ident}:{int(now // period)}"
    reset = max(1, int(period - (now % period)) + 1)
    try:
        used = _count(key, cost=cost, period=period)
    except Exception:  # without its cache the service still answers, unthrottled, rather than failing
        used = None
    if used is None:
        if scope not in LOCAL_FALLBACK_SCOPES:
            return None
        used = _count(key, cost=cost, period=period, counters=_local_counters) or cost
    quota = Quota(scope=scope, limit=limit, used=used, reset=reset)
    if request is not None:
        _remember(request, quota)
    return quota


def _count(key: str, *, cost: int, period: int, counters: Any = cache) -> int | None:
    """One round trip for every request but the first of a window; ``None`` when the cache did not answer.
    (A cache that is down is not logged here: ``chalkboard.common.redis`` logs it once per interval.)"""
    try:
        return counters.incr(key, cost)  # None: django-redis swallowed an error
    except ValueError:  # the first hit of the window
        added = counters.add(key, cost, timeout=period + 1)
        if added is None:  # the cache answered without Redis (chalkboard.common.redis_cache)
            return None
        if added:
            return cost
        return counters.incr(key, cost)  # another process opened the window first


def _remember(request: Request | HttpRequest, quota: Quota) -> None:
    http_request = request._request if isinstance(request, Request) else request
    quotas: list[Quota] = getattr(http_request, QUOTAS_ATTRIBUTE, [])
    quotas.append(quota)
    setattr(http_request, QUOTAS_ATTRIBUTE, quotas)


def quota_to_report(request: HttpRequest) -> Quota | None:
    """The quota a response reports: the one that refused the request, else the closest to its limit."""
    quotas: list[Quota] = getattr(request, QUOTAS_ATTRIBUTE, [])
    if not quotas:
        return None
    refused = [quota for quota in quotas if not quota.allowed]
    return refused[0] if refused else min(quotas, key=lambda quota: (quota.remaining, quota.limit))


def window_hit(*, scope: str, ident: str, rate: str, cost: int = 1) -> tuple[bool, int]:
    """Count a hit against ``ident`` in the current window. Returns (allowed, seconds until the window ends)."""
    quota = quota_take(scope=scope, ident=ident, rate=rate, cost=cost)
    if quota is None:
        _, period = parse_rate(rate)
        return True, max(1, int(period - (time.time() % period)) + 1)
    return quota.allowed, quota.reset


def window_release(*, scope: str, ident: str, rate: str | None = None) -> None:
    """Take back one hit of the current window (a successful login does not count as a failure)."""
    _, period = parse_rate(rate or rate_for(scope))
    key = f"throttle:{scope}:{ident}:{int(time.time() // period)}"
    try:
        released = cache.decr(key) is not None  # None: django-redis swallowed an error
    except ValueError:  # the window already expired: nothing to take back
        released = True
    except Exception:
        released = False
    if not released and scope in LOCAL_FALLBACK_SCOPES:
        with contextlib.suppress(ValueError):
            _local_counters.decr(key)


def rate_for(scope: str) -> str:
    return str(api_settings.DEFAULT_THROTTLE_RATES[scope])


def _user_ident(request: Request) -> str:
    user = getattr(request, "user", None)
    return f"u{user.pk}" if user is not None and user.is_authenticated else f"a{client_address(request)}"


class _QuotaThrottle(BaseThrottle):
    """Counts the request against ``scope_for(request, view)``, if any, and refuses it past the limit."""

    def __init__(self) -> None:
        self._wait = 0

    def scope_for(self, request: Request, view: Any) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = self.scope_for(request, view)
        if scope is None:
            return True
        quota = quota_take(scope=scope, ident=_user_ident(request), request=request)
        if quota is None:
            return True
        self._wait = quota.reset
        return quota.allowed

    def wait(self) -> float:
        return self._wait


class UserThrottle(_QuotaThrottle):
    """Per authenticated user; per address for anonymous requests."""

    scope = "user"

    def scope_for(self, request: Request, view: Any) -> str | None:
        return self.scope


def _route_name(request: Request) -> str | None:
    match = getattr(request._request, "resolver_match", None)
    return match.url_name if match is not None else None


class RouteThrottle(_QuotaThrottle):
    """The tighter scope of an expensive endpoint (``ROUTE_SCOPES``), per user."""

    def scope_for(self, request: Request, view: Any) -> str | None:
        route = _route_name(request)
        if route in EXPORT_ROUTES:
            renderer = getattr(request, "accepted_renderer", None)
            return "export" if getattr(renderer, "format", None) in EXPORT_FORMATS else None
        return ROUTE_SCOPES.get(route or "")
