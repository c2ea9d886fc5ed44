"""Which sessions a calendar feed shows, and the feed's owner's right to them, checked on every read.

A feed shows a window of days in its school's time zone: ``WINDOW_DAYS_BACK`` before today to
``WINDOW_DAYS_AHEAD`` after it. It reads with its owner's rights of the moment (``session_visibility`` for
the owner's ``Viewer``, narrowed to the feed's teacher, student or school), so it never shows more than the
owner could read through the API, and nothing once they may no longer see it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.db.models import QuerySet
from django.utils import timezone

from chalkboard.accounts.models import User
from chalkboard.calendars.models import CalendarFeed, FeedKind
from chalkboard.common.cache import school_scope, school_sessions_scope, student_scope, teacher_scope
from chalkboard.common.errors import NotFound
from chalkboard.common.secrets_digest import secret_digest
from chalkboard.common.timezones import local_midnight
from chalkboard.people.models import Student
from chalkboard.scheduling.models import Session, SessionStudent
from chalkboard.scheduling.selectors import session_visibility
from chalkboard.schools.access import STAFF, Viewer
from chalkboard.schools.models import Role

TOKEN_SHAPE = re.compile(r"[0-9a-f]{64}")
WINDOW_DAYS_BACK = 28
WINDOW_DAYS_AHEAD = 183


def feed_list(*, viewer: Viewer) -> QuerySet[CalendarFeed]:
    """The viewer's own feeds, oldest first. Nobody lists another person's feeds, staff included."""
    return CalendarFeed.objects.filter(owner=viewer.user).order_by("id")


def feed_get_for_owner(*, viewer: Viewer, feed_id: int) -> CalendarFeed:
    """One of the viewer's own feeds; 404 for anyone else's, as for one that does not exist."""
    feed = feed_list(viewer=viewer).filter(pk=feed_id).first()
    if feed is None:
        raise NotFound()
    return feed


def feed_may_read(*, viewer: Viewer, feed: CalendarFeed) -> bool:
    """Whether the feed's owner may, today, read what it shows."""
    if feed.kind == FeedKind.SCHOOL:
        return viewer.is_staff_of(feed.school_id)
    if feed.kind == FeedKind.TEACHER:
        return feed.teacher_id == viewer.teacher_id and viewer.teaches_in(feed.school_id)
    return feed.student_id in viewer.own_and_ward_student_ids


def feed_get_by_token(token: str) -> tuple[CalendarFeed, Viewer]:
    """The feed this secret opens, and its owner as a viewer: 404 for a secret that opens none (never
    issued, rotated away, revoked) and for a feed whose owner may no longer read it."""
    if not TOKEN_SHAPE.fullmatch(token):
        raise NotFound()
    digest = secret_digest(token)
    try:  # the owner and the school only: the names a rebuild needs are read by it (``feed_person``)
        feed = CalendarFeed.objects.select_related("owner", "school").get(token_hash=digest)
    except CalendarFeed.DoesNotExist:
        raise NotFound() from None
    viewer = Viewer.for_user(feed.owner)
    if not feed_may_read(viewer=viewer, feed=feed):
        raise NotFound()
    return feed, viewer


@dataclass(frozen=True)
class Window:
    """The days a feed shows, in its school's time zone: [``start``, ``end``)."""

    today: date
    start: datetime
    end: datetime


def feed_window(feed: CalendarFeed, now: datetime | None = None) -> Window:
    zone = feed.school.zone
    today = timezone.localdate(now or timezone.now(), timezone=zone)
    return Window(
        today=today,
        start=local_midnight(today - timedelta(days=WINDOW_DAYS_BACK), zone),
        end=local_midnight(today + timedelta(days=WINDOW_DAYS_AHEAD + 1), zone),
    )


class FeedSession(NamedTuple):
    """What a feed says of one session: read as plain values, not models (a busy teacher's window holds
    hundreds of sessions, and building models for them cost more than the statements)."""

    id: int
    created_at: datetime
    updated_at: datetime
    starts_at: datetime
    planned_minutes: int
    actual_minutes: int | None
    status: str
    location: str
    version: int
    subject: str
    teacher: str
    students: tuple[str, ...]


def feed_sessions(*, viewer: Viewer, feed: CalendarFeed, window: Window) -> list[FeedSession]:
    """The sessions the feed shows, by start: those its owner sees (``session_visibility``), of its teacher,
    student or school, starting in the window, cancelled ones included (a calendar app removes them on
    ``STATUS:CANCELLED``); with their students' names, but for a student's feed, which names none. Two
    statements."""
    sessions = Session.objects.filter(
        session_visibility(viewer), school_id=feed.school_id, starts_at__gte=window.start, starts_at__lt=window.end
    )
    if feed.teacher_id is not None:
        sessions = sessions.filter(teacher_id=feed.teacher_id)
    elif feed.student_id is not None:
        sessions = sessions.filter(attendees__student_id=feed.student_id)
    names: dict[int, list[str]] = defaultdict(list)
    if feed.kind != FeedKind.STUDENT:
        seats = SessionStudent.objects.filter(session__in=sessions).order_by("id")
        for session_id, name in seats.values_list("session_id", "student__user__full_name"):
            names[session_id].append(name)
    rows = sessions.order_by("starts_at", "id").values_list(*_FEED_COLUMNS)
    return [FeedSession._make((*row, tuple(names[row[0]]))) for row in rows]


_FEED_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "starts_at",
    "planned_duration_minutes",
    "actual_duration_minutes",
    "status",
    "location",
    "version",
    "subject__name",
    "teacher__user__full_name",
)


def feed_person(feed: CalendarFeed) -> str | None:
    """The name of the teacher or the student whose feed it is; ``None`` for a school's."""
    if feed.teacher_id is not None:  # a teacher's id is their user's
        return User.objects.filter(pk=feed.teacher_id).values_list("full_name", flat=True).first()
    if feed.student_id is not None:
        return Student.objects.filter(pk=feed.student_id).values_list("user__full_name", flat=True).first()
    return None


def feed_scopes(feed: CalendarFeed) -> list[str]:
    """The cache versions a feed's content depends on: its school's records, and its sessions (a teacher
    feed names its teacher, a student feed its student, and a school feed neither)."""
    if feed.teacher_id is not None:
        return [school_scope(feed.school_id), teacher_scope(feed.teacher_id, feed.school_id)]
    if feed.student_id is not None:
        return [school_scope(feed.school_id), student_scope(feed.student_id)]
    return [school_scope(feed.school_id), school_sessions_scope(feed.school_id)]


# Who may make a feed of each kind in a school (their own teacher feed, a student's feed for the student or a
# guardian, the school's for its owners and admins) is decided in ``services.feed_create`` with these roles.
KIND_ROLES: dict[str, frozenset[str]] = {
    FeedKind.TEACHER: frozenset({Role.TEACHER}),
    FeedKind.STUDENT: frozenset({Role.STUDENT, Role.GUARDIAN}),
    FeedKind.SCHOOL: STAFF,
}
