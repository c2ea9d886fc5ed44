"""Recording what changed: one call per write, inside its transaction.

``event_emit`` appends the event to the durable log in the caller's transaction and, once that commits,
bumps the cache versions the change affects (so the next read of a dashboard, a progress page or an
earnings page is fresh in every process) and then nudges the connected dashboards. A rolled-back write
records, bumps and sends nothing.

Event ids are in commit order, so "every event after id X" is well defined and a reader that has seen
id X has seen, or will see, everything before it. On PostgreSQL an id is drawn from a sequence when the row
is inserted, not when it commits: two writers could otherwise commit ids 11 then 10, and a dashboard that
read 11 in between would skip 10 forever. ``event_emit`` therefore takes a transaction-scoped advisory lock
just before inserting, held until the writer commits or rolls back: writers that emit events commit one
after another, in id order. Services call ``event_emit`` as the last step of their work, so the lock is
held only for the commit itself. On SQLite every write transaction is already serialized (the settings
begin them ``IMMEDIATE``), and ids come from ``AUTOINCREMENT``, never reused, on both databases.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import connections, transaction
from django.utils import timezone
from knox.models import AuthToken

from chalkboard.common.cache import school_scope, student_scope, teacher_scope, versions_bump_on_commit
from chalkboard.common.errors import ValidationFailed
from chalkboard.realtime.models import Event, EventType, WebSocketTicket
from chalkboard.realtime.publishing import event_publish
from chalkboard.realtime.selectors import token_valid

# Any constant shared by every process; pg_advisory_xact_lock takes a signed 64-bit key. "CHKBEVNT".
EVENT_LOG_LOCK_KEY = 0x43484B4245564E54

TICKET_TTL = timedelta(seconds=30)
PRUNE_BATCH = 5_000
# The contract lets a client resume after a day away: the log is never pruned closer than that.
MINIMUM_RETENTION = timedelta(hours=24)
RETENTION_TOO_SHORT = "Events must be kept at least 24 hours: clients resume from the last id they saw."


def _event_log_lock(using: str) -> None:
    """Serialize event-writing transactions from here to their commit (see the module docstring)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_LOG_LOCK_KEY])


def event_emit(
    *,
    type: EventType,
    school_id: int,
    teacher_id: int | None,
    data: dict[str, Any],
    student_ids: Iterable[int] = (),
) -> Event:
    using = Event.objects.db
    # Joins the caller's transaction; outside one, makes the lock and the insert one transaction.
    with transaction.atomic(using=using, savepoint=False):
        _event_log_lock(using)
        event = Event.objects.create(type=type, school_id=school_id, teacher_id=teacher_id, data=data)
        scopes = [student_scope(student_id) for student_id in student_ids]
        if teacher_id is not None:
            scopes.append(teacher_scope(teacher_id, school_id))
        # Caches first, then the nudge: a dashboard that refetches on an event reads the fresh page.
        versions_bump_on_commit(scopes)
        transaction.on_commit(
            partial(event_publish, event_id=event.pk, school_id=school_id, teacher_id=teacher_id),
            using=using,
            robust=True,
        )
    return event


def school_changed(*, school_id: int) -> None:
    """A change to a school's people, subjects or settings: every cached page of the school is rebuilt."""
    versions_bump_on_commit([school_scope(school_id)])


def events_prune(*, older_than: timedelta) -> int:
    """Delete the events that occurred more than ``older_than`` ago. Deletes a prefix of the log by id, in
    batches, so the oldest event kept tells a resuming client whether anything after its id is gone."""
    if older_than < MINIMUM_RETENTION:
        raise ValidationFailed(RETENTION_TOO_SHORT)
    cutoff = timezone.now() - older_than
    last_old = Event.objects.filter(occurred_at__lt=cutoff).order_by("-id").values_list("id", flat=True).first()
    if last_old is None:
        return 0
    deleted = 0
    while True:
        batch = list(Event.objects.filter(id__lte=last_old).order_by("id").values_list("id", flat=True)[:PRUNE_BATCH])
        if not batch:
            return deleted
        count, _ = Event.objects.filter(id__in=batch).delete()
        deleted += count


def _ticket_digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "surrogateescape")).hexdigest()


@transaction.atomic
def ticket_issue(*, token: AuthToken) -> tuple[str, datetime]:
    """A single-use ticket for the dashboard socket, valid ``TICKET_TTL``, bound to the bearer ``token``."""
    ticket = secrets.token_urlsafe(32)
    expires_at = timezone.now() + TICKET_TTL
    WebSocketTicket.objects.create(digest=_ticket_digest(ticket), token_digest=token.digest, expires_at=expires_at)
    return ticket, expires_at


@transaction.atomic
def ticket_consume(*, ticket: str) -> AuthToken | None:
    """The bearer token a ticket was issued from, if the ticket is unused, unexpired and the token still
    valid; ``None`` otherwise. The ticket is spent either way. Of two concurrent uses only one deletes the
    row, and only the one that deleted it may pass."""
    digest = _ticket_digest(ticket)
    found = WebSocketTicket.objects.filter(digest=digest).values_list("token_digest", "expires_at").first()
    if found is None:
        return None
    deleted, _ = WebSocketTicket.objects.filter(digest=digest).delete()
    token_digest, expires_at = found
    if deleted != 1 or expires_at <= timezone.now():
        return None
    return token_valid(digest=token_digest)


def tickets_purge_expired() -> int:
    deleted, _ = WebSocketTicket.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
