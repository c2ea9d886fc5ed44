"""Versioned caching: the few named caches of Chalkboard and the versions that writes bump.

A cached page's key embeds the current version of every scope it depends on (a school, a teacher in a
school, a student). A write bumps those versions when its transaction commits, so the next read builds a
fresh page, in every process, and the stale entries simply expire. Only one process rebuilds a missing
entry at a time. If the cache does not answer, pages are built from the database: slower, never wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger("chalkboard.cache")

T = TypeVar("T")

VERSION_TIMEOUT = 60 * 60 * 24 * 30
LOCK_TIMEOUT = 10
LOCK_WAIT_SECONDS = 0.5
# How often a request that waits for another's rebuild looks for the page: a poll is one cache round trip,
# and each poll's delay is added to what the waiter waits (20 ms polls made the waiters the tail of a page
# written every 5 ms: p99 140 ms against 96 ms at 5 ms, docs/performance.md).
LOCK_POLL_SECONDS = 0.005


def user_scope(user_id: int) -> str:
    """A user's memberships and roles."""
    return f"v:user:{user_id}"


def school_scope(school_id: int) -> str:
    """Anything about a school's people, subjects or settings."""
    return f"v:school:{school_id}"


def teacher_scope(teacher_id: int, school_id: int) -> str:
    """A teacher's day in one school: sessions, students, assessments, earnings."""
    return f"v:teacher:{teacher_id}:{school_id}"


def school_sessions_scope(school_id: int) -> str:
    """Any session of a school: booked, changed, cancelled or completed (the school's calendar feed)."""
    return f"v:sessions:{school_id}"


def student_scope(student_id: int) -> str:
    """A student's progress, assessments, attendance and notes."""
    return f"v:student:{student_id}"


# Bumps that could not reach the cache: retried before this process next reads a version, so a cache
# that comes back after an outage never serves this process a page older than its own writes.
_missed_bumps: set[str] = set()


def versions_get(scopes: Iterable[str]) -> dict[str, int]:
    """The current version of each scope (0 for a scope never bumped). One round trip."""
    _retry_missed_bumps()
    scopes = list(scopes)
    try:
        found = cache.get_many(scopes)
    except Exception:  # a cache outage reads as "no versions"
        logger.warning("cache unavailable while reading versions")
        found = {}
    return {scope: int(found.get(scope, 0)) for scope in scopes}


def _retry_missed_bumps() -> None:
    if _missed_bumps:
        versions_bump(list(_missed_bumps))


def _bump(scope: str) -> bool:
    added = cache.add(scope, 1, timeout=VERSION_TIMEOUT)
    if added is None:  # the cache answered without Redis (chalkboard.common.redis_cache)
        return False
    if added:
        return True
    try:
        return cache.incr(scope) is not None
    except ValueError:  # expired between add and incr
        return bool(cache.add(scope, 1, timeout=VERSION_TIMEOUT))


def versions_bump(scopes: Iterable[str], *, publish: tuple[str, str] | None = None) -> bool:
    """Bump each scope's version once. On Redis, all of them in one round trip (``incr_versions``), which
    then publishes ``publish`` (a channel and a message) to Redis's subscribers, after the bumps. Answers
    whether it was published: never without Redis."""
    scopes = set(scopes)
    bump_all = getattr(cache, "incr_versions", None)
    if bump_all is not None and (scopes or publish is not None):
        try:
            ok = bump_all(scopes, VERSION_TIMEOUT, publish=publish)
        except Exception:  # Redis answered with an error: counted as missed, retried before the next read
            ok = False
        for scope in scopes:
            _bumped(scope, ok)
        return ok and publish is not None
    for scope in scopes:
        try:
            ok = _bump(scope)
        except Exception:
            ok = False
        _bumped(scope, ok)
    return False


def _bumped(scope: str, ok: bool) -> None:
    if ok:
        _missed_bumps.discard(scope)
    else:  # not logged per call: the cache's breaker reports an outage once per interval
        logger.debug("cache unavailable while bumping %s", scope)
        _missed_bumps.add(scope)


def versions_bump_on_commit(scopes: Iterable[str]) -> None:
    """Bump these versions once the current transaction commits (at once outside a transaction)."""
    scopes = list(scopes)
    transaction.on_commit(lambda: versions_bump(scopes))


@dataclass(frozen=True)
class _Entry:
    """A cached value with the versions of the scopes it was built from."""

    versions: tuple[int, ...]
    value: Any


def cache_read_many(keys: Iterable[str]) -> Mapping[str, Any] | None:
    """Several entries and versions in one round trip, for ``cached_versioned(found=...)`` calls that would
    each read their own; ``None`` when the cache does not answer."""
    _retry_missed_bumps()
    try:
        return dict(cache.get_many(list(keys)))
    except Exception:
        logger.warning("cache unavailable while reading")
        return None


def _store(key: str, entry: _Entry | None, seconds: int, *, lock: str | None) -> None:
    """Store ``entry`` (unless ``None``) and release ``lock`` (if any): on Redis in one round trip when both."""
    store_and_release = getattr(cache, "set_and_delete", None)
    if entry is not None and lock is not None and store_and_release is not None:
        store_and_release(key, entry, seconds, delete=lock)
        return
    if entry is not None:
        cache.set(key, entry, timeout=seconds)
    if lock is not None:
        cache.delete(lock)


def _lock_take(lock: str) -> bool:
    """Whether this request may build the page: it took the page's build lock, or there is no cache to
    coordinate through."""
    try:
        taken = cache.add(lock, 1, timeout=LOCK_TIMEOUT)
    except Exception:
        return True
    return True if taken is None else bool(taken)


def cached_versioned(
    key: str,
    *,
    scopes: Iterable[str],
    build: Callable[[], T],
    timeout: int | Callable[[T], int],
    is_fresh: Callable[[T], bool] = lambda value: True,
    found: Mapping[str, Any] | None = None,
) -> T:
    """The value cached at ``key`` if it was built at the current versions of ``scopes``, else built anew.

    The versions and the entry are read in one round trip, or taken from ``found``, the result of a
    ``cache_read_many`` that included them. Only one process rebuilds a missing entry while the others wait
    briefly for it. ``timeout`` is in seconds, or a function of the built value (for pages that turn stale
    at a known time); ``is_fresh`` rejects an entry that has turned stale before the cache expired it.
    Without a cache, the value is simply built.
    """
    scopes = list(scopes)
    if found is None:
        found = cache_read_many([*scopes, key])
    if found is None:
        logger.warning("cache unavailable: building %s from the database", key.split(":")[0])
        return build()
    versions = tuple(int(found.get(scope, 0)) for scope in scopes)

    def current(entry: Any, now: tuple[int, ...]) -> Any:
        """The entry's value if it was built at ``versions`` or later, and not from versions the cache no
        longer has (a version key that expired starts again at 1: ``now`` bounds the entry from above)."""
        if (
            isinstance(entry, _Entry)
            and len(entry.versions) == len(versions)
            and all(asked <= built <= last for asked, built, last in zip(versions, entry.versions, now, strict=True))
            and is_fresh(entry.value)
        ):
            return entry.value
        return None

    value = current(found.get(key), versions)
    if value is not None:
        return value
    # One build of a page at a time, whatever the versions it is built at. A request that finds one under way
    # takes its page, or any page built since at newer versions; if the page it waited for is older than its
    # own versions (a write landed during that build), it builds the next one, at the versions current then,
    # which every request waiting since takes too: under steady writes, one build serves all who waited for
    # it instead of each building their own. After a short wait, a request builds for itself.
    lock = f"lock:{key}"
    holder = _lock_take(lock)
    if not holder:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(LOCK_POLL_SECONDS)
            polled = cache_read_many([*scopes, key, lock])
            if polled is None:
                break
            now = tuple(int(polled.get(scope, 0)) for scope in scopes)
            value = current(polled.get(key), now)
            if value is not None:
                return value
            if lock not in polled and _lock_take(lock):
                # Read in the round trip that found the lock free, before this build reads the database.
                holder, versions = True, now
                break
    built = build()
    seconds = timeout(built) if callable(timeout) else timeout
    try:
        stored = cache.get(key)
        # A page built at newer versions meanwhile stays: replacing it with this one would send the requests
        # that wait for the newer one back to the database.
        newer = isinstance(stored, _Entry) and stored.versions != versions and current(stored, stored.versions)
        _store(key, None if newer else _Entry(versions, built), seconds, lock=lock if holder else None)
    except Exception:
        logger.warning("cache unavailable while storing %s", key.split(":")[0])
    return built
