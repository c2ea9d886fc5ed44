"""Reads of sessions and their notes, always scoped to the viewer first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from chalkboard.common.api import MAX_ID
from chalkboard.common.errors import Forbidden, NotFound
from chalkboard.scheduling.models import NoteVisibility, Session, SessionNote, SessionStudent
from chalkboard.schools.access import STAFF, Viewer
from chalkboard.schools.models import Role, School

# The largest value a database key can hold: a larger id cannot exist, and must not reach the database.

SESSION_MANAGE_FORBIDDEN = "Only the school's owners and admins, or the session's own teacher, may change this session."


def session_visibility(viewer: Viewer) -> Q:
    """All sessions of the schools the viewer runs; their own as a teacher; a student's or a guardian's
    children's sessions. Nothing from a school the viewer has no active membership in."""
    visible = Q(school_id__in=viewer.schools_where(*STAFF))
    teaching = viewer.schools_where(Role.TEACHER)
    if teaching:
        visible |= Q(school_id__in=teaching, teacher_id=viewer.teacher_id)
    if viewer.own_and_ward_student_ids:
        attending = SessionStudent.objects.filter(
            session_id=OuterRef("pk"), student_id__in=viewer.own_and_ward_student_ids
        )
        visible |= Q(Exists(attending))
    return visible


# Sessions from ``session_list`` carry their bookings as a plain list here: reading a prefetched
# relation through ``.all()`` clones a queryset each time, which dominated the dashboard's build.
BOOKED = "booked"


def booked_students() -> QuerySet[SessionStudent]:
    return SessionStudent.objects.select_related("student__user").order_by("id")


# What a list shows of a session and of its bookings (``session_payload``). A page of the list builds about
# eight model instances a session; loading these columns only (not the school, nor every column of the
# people) took 7% off a page's Python and 10% off PostgreSQL's CPU (docs/performance.md).
LISTED = (
    *("id", "school_id", "teacher_id", "subject_id", "starts_at", "planned_duration_minutes", "status"),
    *("location", "completed_at", "actual_duration_minutes", "version"),
    *("subject__id", "subject__name", "teacher__user__id", "teacher__user__full_name"),
)
LISTED_BOOKINGS = (
    "id",
    "session_id",
    "student_id",
    "attendance",
    "student__id",
    "student__user__id",
    "student__user__full_name",
)


def _sessions_visible(viewer: Viewer) -> QuerySet[Session]:
    return Session.objects.filter(session_visibility(viewer)).order_by("starts_at", "id")


def session_list(*, viewer: Viewer) -> QuerySet[Session]:
    """Visible sessions with what a list shows of them, in a fixed number of queries."""
    return (
        _sessions_visible(viewer)
        .select_related("subject", "teacher__user", "school")
        .prefetch_related(Prefetch("attendees", queryset=booked_students(), to_attr=BOOKED))
    )


def session_get_for_viewer(*, viewer: Viewer, session_id: int) -> Session:
    """The session, if the viewer may see it; otherwise 404, the same as for an unknown id."""
    if not 0 < session_id <= MAX_ID:
        raise NotFound()
    session = session_list(viewer=viewer).filter(pk=session_id).first()
    if session is None:
        raise NotFound()
    return session


def note_visibilities_for(*, viewer: Viewer, session: Session) -> list[str]:
    """Which note levels the viewer may read on this session."""
    if viewer.is_staff_of(session.school_id):
        return [NoteVisibility.SHARED, NoteVisibility.STAFF, NoteVisibility.ADMIN]
    if viewer.teaches_in(session.school_id) and session.teacher_id == viewer.teacher_id:
        return [NoteVisibility.SHARED, NoteVisibility.STAFF]
    return [NoteVisibility.SHARED]


def session_notes(*, viewer: Viewer, session: Session) -> QuerySet[SessionNote]:
    return (
        SessionNote.objects.filter(
            session=session, visibility__in=note_visibilities_for(viewer=viewer, session=session)
        )
        .select_related("author")
        .order_by("created_at", "id")
    )


def session_may_manage(*, viewer: Viewer, session: Session) -> bool:
    """Complete, amend, reschedule or cancel: the school's staff, or the session's own teacher."""
    if viewer.is_staff_of(session.school_id):
        return True
    return viewer.teaches_in(session.school_id) and session.teacher_id == viewer.teacher_id


def session_get_for_manager(*, viewer: Viewer, session_id: int) -> Session:
    """The session, if the viewer may manage it: 404 when they may not see it, 403 when they only may see it."""
    session = session_get_for_viewer(viewer=viewer, session_id=session_id)
    if not session_may_manage(viewer=viewer, session=session):
        raise Forbidden(SESSION_MANAGE_FORBIDDEN)
    return session


def session_managed_in(sessions: QuerySet[Session], *, viewer: Viewer, session_id: int) -> Session:
    """The session from ``sessions`` (a queryset shaped by the caller: locked, with what it needs loaded) if
    the viewer may manage it: 404 when they may not see it, 403 when they only may see it. One query."""
    if not 0 < session_id <= MAX_ID:
        raise NotFound()
    session = sessions.filter(session_visibility(viewer), pk=session_id).first()
    if session is None:
        raise NotFound()
    if not session_may_manage(viewer=viewer, session=session):
        raise Forbidden(SESSION_MANAGE_FORBIDDEN)
    return session


def session_ref_for_manager(*, viewer: Viewer, session_id: int) -> Session:
    """``session_get_for_manager``'s check (404, then 403), in one query that loads only the session's id,
    school and teacher: for a service that locks the row and reads the rest itself (and checks again)."""
    return session_managed_in(
        Session.objects.only("id", "school_id", "teacher_id"), viewer=viewer, session_id=session_id
    )


def session_list_filtered(
    *,
    viewer: Viewer,
    school_id: int | None = None,
    teacher_id: int | None = None,
    student_id: int | None = None,
    subject_id: int | None = None,
    statuses: Sequence[str] = (),
    starts_from: date | datetime | None = None,
    starts_before: date | datetime | None = None,
    ordering: str = "starts_at",
) -> QuerySet[Session]:
    """The visible sessions narrowed by the list's filters, with only the columns a list shows
    (``session_payload``). ``starts_from`` is inclusive, ``starts_before`` exclusive; a date bound is midnight
    in each session's school's time zone."""
    sessions = (
        _sessions_visible(viewer)
        .select_related("subject", "teacher__user")
        .only(*LISTED)
        .prefetch_related(Prefetch("attendees", queryset=booked_students().only(*LISTED_BOOKINGS), to_attr=BOOKED))
    )
    if school_id is not None:
        sessions = sessions.filter(school_id=school_id)
    if teacher_id is not None:
        sessions = sessions.filter(teacher_id=teacher_id)
    if subject_id is not None:
        sessions = sessions.filter(subject_id=subject_id)
    if student_id is not None:
        attending = SessionStudent.objects.filter(session_id=OuterRef("pk"), student_id=student_id)
        sessions = sessions.filter(Exists(attending))
    if statuses:
        sessions = sessions.filter(status__in=statuses)
    if starts_from is not None or starts_before is not None:
        sessions = sessions.filter(
            _starts_between(viewer=viewer, school_id=school_id, starts_from=starts_from, starts_before=starts_before)
        )
    if ordering == "-starts_at":
        sessions = sessions.order_by("-starts_at", "-id")
    return sessions


def _starts_between(
    *, viewer: Viewer, school_id: int | None, starts_from: date | datetime | None, starts_before: date | datetime | None
) -> Q:
    """Sessions starting in [starts_from, starts_before). Exact instants apply as they are; a date is read in
    each school's time zone, so the viewer's schools are grouped by zone (one query)."""
    if not (_is_date(starts_from) or _is_date(starts_before)):
        return _instant_range(_instant(starts_from, UTC), _instant(starts_before, UTC))
    school_ids = [pk for pk in viewer.school_ids if school_id in (None, pk)]
    schools_by_zone: dict[str, list[int]] = defaultdict(list)
    for pk, zone in School.objects.filter(pk__in=school_ids).values_list("pk", "timezone"):
        schools_by_zone[zone].append(pk)
    matching = Q(pk__in=[])
    for zone, pks in schools_by_zone.items():
        tz = ZoneInfo(zone)
        matching |= Q(school_id__in=pks) & _instant_range(_instant(starts_from, tz), _instant(starts_before, tz))
    return matching


def _is_date(value: date | datetime | None) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _instant(value: date | datetime | None, tz: tzinfo) -> datetime | None:
    """A datetime as it is; a date as its midnight in ``tz``."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min, tzinfo=tz)


def _instant_range(lower: datetime | None, upper: datetime | None) -> Q:
    bounds = Q()
    if lower is not None:
        bounds &= Q(starts_at__gte=lower)
    if upper is not None:
        bounds &= Q(starts_at__lt=upper)
    return bounds
