"""Reads of the event log, scoped to who is listening.

An owner or admin of a school hears every event of that school; a teacher hears the events of their own
sessions, students and earnings in each school they teach in (the events whose ``teacher_id`` is theirs);
nobody else hears anything. This is the same rule the HTTP API applies to the dashboards, taken from the
same ``Viewer``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Min, Q, QuerySet
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.fields import DateTimeField

from chalkboard.accounts.sessions import SESSION_CREDENTIAL, session_users
from chalkboard.realtime.models import Event
from chalkboard.schools.access import STAFF, Viewer, roles_load_many
from chalkboard.schools.models import Role

# A client further behind than this is told to reload rather than replayed event by event.
BACKLOG_LIMIT = 5_000

RESYNC_SINCE_TOO_OLD = "since_too_old"
RESYNC_SINCE_UNKNOWN = "since_unknown"
RESYNC_BACKLOG_TOO_LARGE = "backlog_too_large"

_datetime = DateTimeField()


@dataclass(frozen=True)
class Audience:
    """What one viewer may hear: every event of ``staff_school_ids``, and their own events (``teacher_id``
    equal to their id) in ``teaching_school_ids``."""

    user_id: int
    staff_school_ids: frozenset[int]
    teaching_school_ids: frozenset[int]

    @classmethod
    def of(cls, viewer: Viewer) -> Audience:
        return cls.from_roles(viewer.user_id, viewer.roles)

    @classmethod
    def from_roles(cls, user_id: int, roles: Mapping[int, frozenset[str]]) -> Audience:
        return cls(
            user_id=user_id,
            staff_school_ids=frozenset(school_id for school_id, held in roles.items() if not held.isdisjoint(STAFF)),
            teaching_school_ids=frozenset(school_id for school_id, held in roles.items() if Role.TEACHER in held),
        )

    @property
    def hears_nothing(self) -> bool:
        return not self.staff_school_ids and not self.teaching_school_ids

    def hears(self, *, school_id: int, teacher_id: int | None) -> bool:
        """Whether an event of this school and teacher is for this audience: ``visibility()`` in Python."""
        if school_id in self.staff_school_ids:
            return True
        return teacher_id == self.user_id and school_id in self.teaching_school_ids

    def visibility(self) -> Q:
        visible = Q(school_id__in=sorted(self.staff_school_ids))
        if self.teaching_school_ids:
            visible |= Q(teacher_id=self.user_id, school_id__in=sorted(self.teaching_school_ids))
        return visible


def events_visible(*, audience: Audience) -> QuerySet[Event]:
    return Event.objects.filter(audience.visibility()).order_by("id")


def event_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """An event as sent to a client: ``{"id", "type", "occurred_at", "school_id", "teacher_id", "data"}``."""
    return {
        "id": row["id"],
        "type": row["type"],
        "occurred_at": _datetime.to_representation(row["occurred_at"]),
        "school_id": row["school_id"],
        "teacher_id": row["teacher_id"],
        "data": row["data"],
    }


MESSAGE_COLUMNS = ("id", "type", "occurred_at", "school_id", "teacher_id", "data")


def event_messages_after(*, audience: Audience, after_id: int, upto_id: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` visible events with an id above ``after_id`` and up to ``upto_id`` (a horizon of the
    log: ``chalkboard.realtime.log``), oldest first, ready to send. One query."""
    rows = events_visible(audience=audience).filter(id__gt=after_id, id__lte=upto_id).values(*MESSAGE_COLUMNS)[:limit]
    return [event_message(row) for row in rows]


def event_messages_of_every_school_after(*, after_id: int, upto_id: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` events of every school with an id above ``after_id`` and up to ``upto_id`` (a horizon of
    the log), oldest first. One query. Unscoped on purpose: the hub reads each event once for the whole
    process and offers it only to the connections whose audience hears it."""
    rows = Event.objects.filter(id__gt=after_id, id__lte=upto_id).order_by("id").values(*MESSAGE_COLUMNS)[:limit]
    return [event_message(row) for row in rows]


def event_messages_of_school_after(*, school_id: int, after_id: int, upto_id: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` events of one school with an id above ``after_id`` and up to ``upto_id`` (a horizon of
    the log), oldest first: everything the school's owners and admins hear (webhooks). One query."""
    school_events = Event.objects.filter(school_id=school_id, id__gt=after_id, id__lte=upto_id).order_by("id")
    return [event_message(row) for row in school_events.values(*MESSAGE_COLUMNS)[:limit]]


def replay_start(*, audience: Audience, since: int | None, horizon: int) -> tuple[int, str | None]:
    """Where a new connection starts: the id after which events are sent, and a reason to resync when the
    client's ``since`` cannot be honoured (events after it were pruned, it was never issued, or the backlog
    is too large to replay). Without ``since`` a connection starts at ``horizon``, its process's horizon of
    the log, past which its hub offers every event."""
    if since is None:
        return horizon, None
    bounds = Event.objects.aggregate(oldest=Min("id"), latest=Max("id"))
    if since > max(bounds["latest"] or 0, horizon):
        return horizon, RESYNC_SINCE_UNKNOWN
    # Pruning deletes a prefix of the log: ids below the oldest one kept may have held events.
    if bounds["oldest"] is not None and since < bounds["oldest"] - 1:
        return horizon, RESYNC_SINCE_TOO_OLD
    backlog = (
        events_visible(audience=audience).filter(id__gt=since, id__lte=horizon).values("id")[: BACKLOG_LIMIT + 1]
    ).count()
    if backlog > BACKLOG_LIMIT:
        return horizon, RESYNC_BACKLOG_TOO_LARGE
    return since, None


def tokens_in_force() -> QuerySet[AuthToken]:
    """The bearer tokens that may still be used: not revoked (deleted), not expired, their user active."""
    return AuthToken.objects.filter(user__is_active=True).filter(Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()))


def token_valid(*, digest: str) -> AuthToken | None:
    """The bearer token with this digest while it is in force; ``None`` otherwise."""
    return tokens_in_force().select_related("user").filter(digest=digest).first()


def audiences_of_tokens(tokens: Collection[tuple[int, str]]) -> dict[tuple[int, str], Audience]:
    """For many connections at once, each ``(user id, token digest)``: its audience while the token is valid
    (``tokens_in_force``) and still the user's. Connections whose token is not are left out. Two
    queries, however many connections. A browser's connection lives on its session instead
    (``session:<key>``, checked by ``session_users``)."""
    digests = {digest for _, digest in tokens if not digest.startswith(SESSION_CREDENTIAL)}
    owners = dict(tokens_in_force().filter(digest__in=digests).values_list("digest", "user_id"))
    sessions = {
        digest.removeprefix(SESSION_CREDENTIAL) for _, digest in tokens if digest.startswith(SESSION_CREDENTIAL)
    }
    if sessions:
        owners.update({SESSION_CREDENTIAL + key: user_id for key, user_id in session_users(sessions).items()})
    valid = [(user_id, digest) for user_id, digest in tokens if owners.get(digest) == user_id]
    roles = roles_load_many({user_id for user_id, _ in valid})
    return {(user_id, digest): Audience.from_roles(user_id, roles.get(user_id, {})) for user_id, digest in valid}
