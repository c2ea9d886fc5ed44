"""Ordering the event log without a deployment-wide lock.

Event ids come from a sequence when the row is inserted, not when it commits: two writers can commit ids 11
then 10, and a reader that took "everything after 10" in between would skip 10 forever. Writers do not wait
for each other to prevent that; readers wait instead, and only for the writers that can still commit an id
they are about to pass:

- A writer of the log holds ``WRITERS_LOCK`` in **shared** mode from just before it draws its first event
  id to its commit or rollback (``events_insert`` takes it in the insert itself). Shared holders never block
  each other, and nothing ever takes the lock exclusively: writers in different schools, or in the same one,
  never wait here.
- A reader reads the highest id the sequence has handed out (``latest``), then which transactions hold the
  lock (``writers``). Any id up to ``latest`` was drawn by a transaction that took the lock before drawing
  it; when the reader looks, that transaction either still holds it (and is in ``writers``) or has ended, its
  rows visible to every later statement (PostgreSQL releases a transaction's locks after its commit is
  visible). Once every one of ``writers`` has ended, every id up to ``latest`` is committed or gone for good:
  ``latest`` is the log's **horizon**, and "every event after X, up to the horizon" never skips one.

A reader waits only for the writers that held the lock when it looked, never for later ones; and since
services emit their events as the last step of their work, that is the time their commits take. A
transaction that holds the lock for long (one that emits, then keeps working) holds back every reader's
horizon while it lasts: events with greater ids are delivered after it ends, in order. Ids are drawn one at a
time from the sequence (its cache is 1, as Django creates it; a test keeps it so): with a cache, a backend
could draw an id below ``latest`` after the reader looked.

On SQLite every write transaction is serialized already (the settings begin them ``IMMEDIATE``): ids commit
in order (``AUTOINCREMENT``: never reused), and the newest committed id is the horizon.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from django.db import connections
from django.db.models import Field, Max
from django.utils import timezone

from chalkboard.realtime.models import Event

# pg_advisory_xact_lock_shared takes two int4 keys: "CHKB", "EVNT". Per database, like every advisory lock.
WRITERS_LOCK = (0x43484B42, 0x45564E54)

_HOLDERS_SQL = """
SELECT virtualtransaction FROM pg_locks
WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid = %s AND objid = %s AND objsubid = 2 AND granted AND pid <> pg_backend_pid()
"""


def events_insert(events: Sequence[Event]) -> None:
    """Insert new events in this order, setting their ids, after marking the current transaction as a writer
    of the log until it ends. On PostgreSQL both are one statement: the lock is taken before the first id is
    drawn (the ids are drawn as the rows leave the join with the lock's one row). Call inside a transaction."""
    if connections[Event.objects.db].vendor == "postgresql":
        _insert_on_postgresql(events)  # only on PostgreSQL
    else:
        Event.objects.bulk_create(events)  # only on SQLite


def _insert_on_postgresql(events: Sequence[Event]) -> None:  # only on PostgreSQL
    connection = connections[Event.objects.db]
    now = timezone.now()
    encoder = Event._meta.get_field("data").encoder
    # The drafts as one JSON document, read back row by row in the statement: one parameter, encoded once.
    # (As text arrays, every quote of every event's data was escaped one at a time, in Python.)
    drafts = json.dumps(
        [[str(event.type), event.school_id, event.teacher_id, event.data] for event in events], cls=encoder
    )
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(connection.ops.quote_name), [now, *WRITERS_LOCK, drafts])
        ids = sorted(row[0] for row in cursor.fetchall())  # drawn in the rows' order
    for event, event_id in zip(events, ids, strict=True):
        event.pk, event.occurred_at = event_id, now
        event._state.adding, event._state.db = False, Event.objects.db


def _insert_sql(quote: Callable[[str], str]) -> str:  # only on PostgreSQL
    """The statement of ``events_insert`` on PostgreSQL, its table and columns named by the model."""
    columns = ", ".join(quote(_column(name)) for name in _COLUMNS)
    return (
        f"INSERT INTO {quote(Event._meta.db_table)} ({columns}) "  # noqa: S608 (quoted model metadata)  # nosec B608
        "SELECT drafted.draft->>0, (drafted.draft->>1)::bigint, (drafted.draft->>2)::bigint, drafted.draft->3, %s "
        "FROM (SELECT pg_advisory_xact_lock_shared(%s, %s)) AS writer, "
        "jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS drafted(draft, position) "
        f"ORDER BY drafted.position RETURNING {quote(_column('id'))}"
    )


_COLUMNS = ("type", "school", "teacher_id", "data", "occurred_at")


@dataclass(frozen=True)
class Horizon:
    """``latest``: the highest id handed out when it was read. It is the log's horizon once every one of
    ``writers`` (the transactions that were writing the log then) has ended."""

    latest: int
    writers: frozenset[str]


def event_horizon_read(*, after_id: int = 0) -> Horizon:
    """The highest id handed out (SQLite: the newest id committed), and the writers to wait for before reading
    up to it. One query when nothing was handed out after ``after_id``, two otherwise."""
    if connections[Event.objects.db].vendor == "postgresql":
        return _horizon_on_postgresql(after_id)  # only on PostgreSQL
    return Horizon(Event.objects.aggregate(latest=Max("id"))["latest"] or 0, frozenset())  # only on SQLite


def _horizon_on_postgresql(after_id: int) -> Horizon:  # only on PostgreSQL
    with connections[Event.objects.db].cursor() as cursor:
        cursor.execute(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, %s))", [Event._meta.db_table, _column("id")]
        )
        latest = cursor.fetchone()[0] or 0
        if latest <= after_id:
            return Horizon(latest, frozenset())
        cursor.execute(_HOLDERS_SQL, WRITERS_LOCK)
        return Horizon(latest, frozenset(row[0] for row in cursor.fetchall()))


def event_horizon_wait(*, after_id: int = 0, first_wait: float = 0.001, max_wait: float = 0.05) -> int:
    """The log's horizon, for a synchronous reader (a job): the highest id handed out, once every writer that
    may hold an id up to it has ended. Sleeps between looks, from ``first_wait`` doubling up to ``max_wait``."""
    found = event_horizon_read(after_id=after_id)
    writers, delay = found.writers, first_wait
    while writers:  # only on PostgreSQL (the one database with writers to wait for)
        time.sleep(delay)
        delay = min(delay * 2, max_wait)
        writers = event_writers_running(writers)
    return found.latest


def event_writers_running(writers: Collection[str]) -> frozenset[str]:
    """Which of ``writers`` (from ``event_horizon_read``) are still writing the log. One query."""
    if not writers:
        return frozenset()
    return _writers_on_postgresql(writers)  # only on PostgreSQL (the one database with writers to wait for)


def _writers_on_postgresql(writers: Collection[str]) -> frozenset[str]:  # only on PostgreSQL
    with connections[Event.objects.db].cursor() as cursor:
        cursor.execute(_HOLDERS_SQL + " AND virtualtransaction = ANY(%s)", [*WRITERS_LOCK, sorted(writers)])
        return frozenset(row[0] for row in cursor.fetchall())


def _column(name: str) -> str:
    field = Event._meta.get_field(name)
    if not isinstance(field, Field) or not field.column:
        raise TypeError(f"Event.{name} is not a column")
    return field.column
