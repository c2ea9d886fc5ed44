"""Recording what changed: one call per write, inside its transaction.

``event_emit`` appends the event to the durable log in the caller's transaction and, once that commits,
bumps the cache versions the change affects (so the next read of a dashboard, a progress page or an
earnings page is fresh in every process) and then announces the newest event to the socket processes:
once per transaction, however many events it wrote, in the same round trip as the bumps on Redis. A
rolled-back write records, bumps and sends nothing.

Writers never wait for each other here, in any school. Ids are drawn when a row is inserted, not when it
commits, so readers never read past the log's horizon, the id below which every writer has ended
(``chalkboard.realtime.log``); a writer only marks itself as one, with a shared lock, as it inserts.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, transaction
from django.utils import timezone
from knox.models import AuthToken

from chalkboard.common.cache import (
    school_scope,
    school_sessions_scope,
    student_scope,
    teacher_scope,
    versions_bump_on_commit,
)
from chalkboard.common.errors import ValidationFailed
from chalkboard.common.secrets_digest import secret_digest
from chalkboard.realtime.log import events_insert
from chalkboard.realtime.models import SESSION_EVENTS, Event, EventType, WebSocketTicket
from chalkboard.realtime.publishing import events_announce
from chalkboard.realtime.selectors import token_valid
from chalkboard.realtime.signals import events_committed

logger = logging.getLogger("chalkboard.realtime")
TICKET_TTL = timedelta(seconds=30)
PRUNE_BATCH = 5_000
# The contract lets a client resume after a day away: the log is never pruned closer than that.
MINIMUM_RETENTION = timedelta(hours=24)
RETENTION_TOO_SHORT = "Events must be kept at least 24 hours: clients resume from the last id they saw."


class _OnCommit:
    """What the events of one transaction owe once it commits: the cache bumps, then one announcement of the
    newest id (a dashboard that refetches on an event reads the fresh page), both in one round trip on
    Redis, then ``events_committed`` (webhooks) once."""

    def __init__(self) -> None:
        self.scopes: set[str] = set()
        self.school_ids: set[int] = set()
        self.newest = 0

    def add(self, event: Event, scopes: Iterable[str]) -> None:
        self.scopes.update(scopes)
        self.school_ids.add(event.school_id)
        self.newest = max(self.newest, event.pk)

    def __call__(self) -> None:
        events_announce(event_id=self.newest, scopes=self.scopes)
        # Robustly: the commit is done, and its request answers whatever a listener does.
        school_ids = frozenset(self.school_ids)
        for receiver, outcome in events_committed.send_robust(sender=Event, school_ids=school_ids):
            if isinstance(outcome, Exception):
                logger.error("events_committed: %r failed", receiver, exc_info=outcome)


def _on_commit(using: str) -> _OnCommit:
    """This transaction's ``_OnCommit``, made by its first event; a savepoint rolled back takes it with it, and
    the next event makes another."""
    for registered in connections[using].run_on_commit:  # (savepoint ids, function, robust)
        if isinstance(registered[1], _OnCommit):
            return registered[1]
    hook = _OnCommit()
    transaction.on_commit(hook, using=using, robust=True)
    return hook


@dataclass(frozen=True)
class EventDraft:
    """An event to record: its type, school, teacher (``None``: about no one teacher), data, and the
    students whose cached pages it changes."""

    type: EventType
    school_id: int
    teacher_id: int | None
    data: dict[str, Any]
    student_ids: Sequence[int] = ()

    def scopes(self) -> list[str]:
        scopes = [student_scope(student_id) for student_id in self.student_ids]
        if self.teacher_id is not None:
            scopes.append(teacher_scope(self.teacher_id, self.school_id))
        if self.type in SESSION_EVENTS:
            scopes.append(school_sessions_scope(self.school_id))
        return scopes


def events_emit(drafts: Sequence[EventDraft]) -> list[Event]:
    """Record events in the caller's transaction, in this order, with one statement; outside a transaction,
    in one of their own. Their caches are bumped and their dashboards nudged when it commits."""
    if not drafts:
        return []
    using = Event.objects.db
    with transaction.atomic(using=using, savepoint=False):
        on_commit = _on_commit(using)
        events = [
            Event(type=draft.type, school_id=draft.school_id, teacher_id=draft.teacher_id, data=draft.data)
            for draft in drafts
        ]
        events_insert(events)
        for event, draft in zip(events, drafts, strict=True):
            on_commit.add(event, draft.scopes())
    return events


def event_emit(
    *,
    type: EventType,
    school_id: int,
    teacher_id: int | None,
    data: dict[str, Any],
    student_ids: Sequence[int] = (),
) -> Event:
    """Record one event: ``events_emit``."""
    (event,) = events_emit([EventDraft(type, school_id, teacher_id, data, student_ids)])
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


@transaction.atomic
def ticket_issue(*, token: AuthToken) -> tuple[str, datetime]:
    """A single-use ticket for the dashboard socket, valid ``TICKET_TTL``, bound to the bearer ``token``."""
    ticket = secrets.token_urlsafe(32)
    expires_at = timezone.now() + TICKET_TTL
    WebSocketTicket.objects.create(digest=secret_digest(ticket), token_digest=token.digest, expires_at=expires_at)
    return ticket, expires_at


@transaction.atomic
def ticket_consume(*, ticket: str) -> AuthToken | None:
    """The bearer token a ticket was issued from, if the ticket is unused, unexpired and the token still
    valid; ``None`` otherwise. The ticket is spent either way. Of two concurrent uses only one deletes the
    row, and only the one that deleted it may pass."""
    digest = secret_digest(ticket)
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
