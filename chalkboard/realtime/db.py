"""Database calls from the socket consumers.

Channels' ``database_sync_to_async`` is thread-sensitive by default: every call of every connection then
runs on one shared thread, one after the other, and a thousand dashboards queue behind each other (the
load test measured seconds). These calls touch nothing thread-bound but Django's connection, which is
per thread, so in production they run on the executor's threads, each with its own connection (from
the pool that ASGI processes use, ``DATABASE_POOL``).

Tests that keep their data in one uncommitted transaction need the calls on that transaction's thread:
the test settings turn ``REALTIME_DB_THREAD_SENSITIVE`` on; servers started by tests turn it off again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings


def database_call(func: Callable[..., Any]) -> Any:
    return database_sync_to_async(func, thread_sensitive=settings.REALTIME_DB_THREAD_SENSITIVE)
