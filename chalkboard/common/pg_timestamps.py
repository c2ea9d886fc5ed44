"""Timestamps read from PostgreSQL by psycopg's compiled loader, as Django would read them.

Django's psycopg 3 backend reads every ``timestamptz`` through a loader that subclasses psycopg's pure-Python
one (the compiled one cannot be subclassed), then sets the connection's timezone on each value. That costs
about 5 µs a value against 0.4 µs: a dashboard reads some 200 timestamps, about a millisecond of CPU per
rebuild (Django ticket #36960, psycopg issue #1273).

Django's connections run in UTC, where psycopg's compiled loader already returns what Django's returns, an
aware ``datetime`` in ``datetime.UTC``. So, on a connection whose Django timezone and session ``TimeZone`` are
both UTC (the default, with ``USE_TZ``), the compiled loader reads them. Anywhere else Django's loader stays.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, cast

import psycopg
from psycopg import adapt, postgres, pq

TIMESTAMPTZ = postgres.types["timestamptz"].oid
# psycopg's own map holds the compiled loader when psycopg's C extension is installed (the pure-Python one
# otherwise, still correct).
COMPILED = cast("type[adapt.Loader]", psycopg.adapters.get_loader(TIMESTAMPTZ, pq.Format.TEXT))


class UtcTimestamptzLoader(adapt.Loader):
    """psycopg's loader for a connection in UTC. ``timezone`` is the attribute Django compares with its
    own timezone when it opens a cursor: equal, Django keeps this loader."""

    timezone = UTC

    def __init__(self, oid: int, context: Any = None):  # only on PostgreSQL
        super().__init__(oid, context)
        self._compiled = COMPILED(oid, context).load

    def load(self, data: Any) -> Any:  # only on PostgreSQL
        return self._compiled(data)


def timestamps_compiled(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created``: read timestamps with ``UtcTimestamptzLoader`` on a PostgreSQL connection in UTC."""
    if connection.vendor != "postgresql" or connection.timezone is not UTC:
        return
    native = connection.connection
    if native.info.parameter_status("TimeZone") not in ("UTC", "Etc/UTC"):
        return
    native.adapters.register_loader(TIMESTAMPTZ, UtcTimestamptzLoader)
