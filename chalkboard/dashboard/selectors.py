"""The consolidated teacher dashboard: one teacher's day in one school, built in a fixed number of queries
and served from a versioned cache that every relevant write bumps."""

from __future__ import annotations

import gzip
import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from django.db.models import (
    Avg,
    Count,
    FilteredRelation,
    Max,
    Min,
    Q,
    Sum,
)
from django.utils import timezone

from chalkboard.activity.models import ActivityLog
from chalkboard.common.cache import cached_versioned, school_scope, teacher_scope
from chalkboard.common.errors import NotFound
from chalkboard.common.timezones import LocalCalendar
from chalkboard.earnings.models import EarningEntry, EarningStatus
from chalkboard.people.models import Student
from chalkboard.progress.models import ProgressAssessment, Trend
from chalkboard.scheduling.models import ATTENDED, Session, SessionStatus, SessionStudent
from chalkboard.scheduling.serializers import session_shape
from chalkboard.schools.access import STAFF, Viewer
from chalkboard.schools.models import Membership, Role

UPCOMING_DAYS = 7
CURRENT_STUDENT_DAYS = 90
TO_COMPLETE_DAYS = 90  # older sessions still "scheduled" are left to the sessions list
RECENT_ASSESSMENTS = 10
RECENT_ACTIVITY = 10
MAX_PAGE_SECONDS = 300
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class DashboardPage:
    """The dashboard as it is sent: JSON, and the same JSON compressed once, so that a cached page
    costs no compression per request."""

    body: bytes
    gzipped: bytes
    etag: str
    valid_until: datetime


def dashboard_may_view(*, viewer: Viewer, teacher_id: int, school_id: int) -> bool:
    """The school's owners and admins, and the teacher themself where they teach."""
    if viewer.is_staff_of(school_id):
        return True
    return viewer.teacher_id == teacher_id and viewer.teaches_in(school_id)


def dashboard_school_id(*, viewer: Viewer, teacher_id: int, school_id: int | None) -> int:
    """The school asked for, or else the first school (by id) where the teacher teaches that the viewer
    may see. 404 for anything the viewer may not see."""
    if school_id is not None:
        if not dashboard_may_view(viewer=viewer, teacher_id=teacher_id, school_id=school_id):
            raise NotFound()
        return school_id
    if viewer.teacher_id == teacher_id and viewer.schools_where(Role.TEACHER):
        return viewer.schools_where(Role.TEACHER)[0]
    staff_schools = viewer.schools_where(*STAFF)
    first = (
        Membership.objects.filter(user_id=teacher_id, role=Role.TEACHER, is_active=True, school_id__in=staff_schools)
        .order_by("school_id")
        .values_list("school_id", flat=True)
        .first()
    )
    if first is None:
        raise NotFound()
    return first


def dashboard_cache_keys(*, teacher_id: int, school_id: int) -> tuple[str, list[str]]:
    """The cache key of a dashboard, and the scopes whose versions it is checked against."""
    return f"dashboard:{teacher_id}:{school_id}", [teacher_scope(teacher_id, school_id), school_scope(school_id)]


def dashboard_page(
    *, viewer: Viewer, teacher_id: int, school_id: int | None, found: Mapping[str, Any] | None = None
) -> DashboardPage:
    """The dashboard as JSON bytes with its ETag, from the cache when it is current. ``found``: the
    cache's answer for ``dashboard_cache_keys`` of the school asked for, when a caller already read them."""
    asked = school_id
    school_id = dashboard_school_id(viewer=viewer, teacher_id=teacher_id, school_id=school_id)
    key, scopes = dashboard_cache_keys(teacher_id=teacher_id, school_id=school_id)
    return cached_versioned(
        key,
        scopes=scopes,
        build=lambda: dashboard_render(teacher_id=teacher_id, school_id=school_id, now=timezone.now()),
        timeout=lambda page: max(1, int((page.valid_until - timezone.now()).total_seconds())),
        is_fresh=lambda page: timezone.now() < page.valid_until,
        found=found if asked is not None else None,
    )


def dashboard_render(*, teacher_id: int, school_id: int, now: datetime) -> DashboardPage:
    data, valid_until = dashboard_build(teacher_id=teacher_id, school_id=school_id, now=now)
    body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
    # Weak: the plain and the compressed representation carry the same tag.
    etag = 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    gzipped = gzip.compress(body, compresslevel=6, mtime=0)
    return DashboardPage(body=body, gzipped=gzipped, etag=etag, valid_until=valid_until)


def dashboard_build(*, teacher_id: int, school_id: int, now: datetime) -> tuple[dict[str, Any], datetime]:
    """The dashboard's data and the instant it turns stale by itself (a session starts, the day ends).

    Every section is read as plain rows (``values_list``), never as model instances: a rebuild is on the
    path of the first read after every write, and rows cost a fraction of the ORM's objects.
    """
    head = (
        Membership.objects.filter(user_id=teacher_id, school_id=school_id, role=Role.TEACHER, is_active=True)
        .values_list("user__full_name", "user__email", "school__name", "school__timezone", "school__currency")
        .first()
    )
    if head is None:
        raise NotFound()
    name, email, school_name, school_timezone, currency = head
    calendar = LocalCalendar(zone=ZoneInfo(school_timezone), now=now)
    teacher = {"id": teacher_id, "name": name}
    sessions = _sessions_shown(teacher=teacher, school_id=school_id, calendar=calendar)

    tomorrow, week_end = calendar.tomorrow_start, calendar.days_ahead(UPCOMING_DAYS + 1)
    today = [s for starts_at, s in sessions if calendar.today_start <= starts_at < tomorrow]
    upcoming = [s for starts_at, s in sessions if tomorrow <= starts_at < week_end]
    to_complete = [s for starts_at, s in sessions if s["status"] == SessionStatus.SCHEDULED and starts_at <= now]
    figures = _figures(teacher_id=teacher_id, school_id=school_id, calendar=calendar)
    data = {
        "teacher": {"id": teacher_id, "name": name, "email": email},
        "school": {"id": school_id, "name": school_name, "timezone": school_timezone, "currency": currency},
        "generated_at": now,
        "today": {"date": calendar.today.isoformat(), "sessions": today},
        "upcoming": upcoming,
        "to_complete": to_complete,
        "students": _students(teacher_id=teacher_id, school_id=school_id, now=now),
        "recent_assessments": _recent_assessments(teacher_id=teacher_id, school_id=school_id),
        "earnings": _earnings(figures, currency=currency),
        "stats": _stats(figures),
        "activity": _activity(teacher_id=teacher_id, school_id=school_id),
    }
    next_start = min((starts_at for starts_at, _ in sessions if starts_at > now), default=None)
    valid_until = min(t for t in (now + timedelta(seconds=MAX_PAGE_SECONDS), calendar.tomorrow_start, next_start) if t)
    return data, valid_until


SESSION_COLUMNS = (
    "id",
    "subject_id",
    "subject__name",
    "starts_at",
    "planned_duration_minutes",
    "status",
    "location",
    "completed_at",
    "actual_duration_minutes",
    "version",
    "attendees__student_id",
    "attendees__student__user__full_name",
    "attendees__attendance",
)


def _sessions_shown(
    *, teacher: dict[str, Any], school_id: int, calendar: LocalCalendar
) -> list[tuple[datetime, dict[str, Any]]]:
    """Today's and the next week's sessions, and the recent ones still waiting to be completed, as the
    sessions API shows them, each with its start: one query, a row per booking."""
    coming = Q(starts_at__gte=calendar.today_start, starts_at__lt=calendar.days_ahead(UPCOMING_DAYS + 1))
    waiting = Q(
        status=SessionStatus.SCHEDULED,
        starts_at__gte=calendar.now - timedelta(days=TO_COMPLETE_DAYS),
        starts_at__lte=calendar.now,
    )
    rows = (
        Session.objects.filter(coming | waiting, teacher_id=teacher["id"], school_id=school_id)
        .order_by("starts_at", "id", "attendees__id")
        .values_list(*SESSION_COLUMNS)
    )
    shown: list[tuple[datetime, dict[str, Any]]] = []
    payload: dict[str, Any] = {}
    for (
        session_id,
        subject_id,
        subject_name,
        starts_at,
        planned,
        status,
        location,
        completed_at,
        actual,
        version,
        student_id,
        student_name,
        attendance,
    ) in rows:
        if payload.get("id") != session_id:
            payload = session_shape(
                session_id=session_id,
                school_id=school_id,
                teacher=teacher,
                subject={"id": subject_id, "name": subject_name},
                starts_at=starts_at,
                planned_duration_minutes=planned,
                status=status,
                location=location,
                students=[],
                completed_at=completed_at,
                actual_duration_minutes=actual,
                version=version,
            )
            shown.append((starts_at, payload))
        if student_id is not None:
            payload["students"].append({"id": student_id, "name": student_name, "attendance": attendance or None})
    return shown


@dataclass(frozen=True)
class Figures:
    earned_this_month: Decimal
    earned_last_month: Decimal
    earned_pending: Decimal
    earned_approved: Decimal
    earned_paid: Decimal
    sessions_completed: int
    minutes_taught: int
    no_shows: int
    marks: int
    attended: int
    assessment_average: Decimal | None


def _figures(*, teacher_id: int, school_id: int, calendar: LocalCalendar) -> Figures:
    """Earnings and this local month's figures: one aggregate pass over each of the teacher's ledger,
    month of sessions, month of attendance marks and month of assessments."""
    this_month = {"gte": calendar.month_start, "lt": calendar.next_month_start}
    last_month = {"gte": calendar.last_month_start, "lt": calendar.month_start}

    def within(field: str, bounds: dict[str, datetime]) -> Q:
        return Q(**{f"{field}__{bound}": value for bound, value in bounds.items()})

    zero = Decimal(0)
    earned = EarningEntry.objects.filter(teacher_id=teacher_id, school_id=school_id).aggregate(
        this_month=Sum("amount", filter=within("earned_at", this_month), default=zero),
        last_month=Sum("amount", filter=within("earned_at", last_month), default=zero),
        pending=Sum("amount", filter=Q(status=EarningStatus.PENDING), default=zero),
        approved=Sum("amount", filter=Q(status=EarningStatus.APPROVED), default=zero),
        paid=Sum("amount", filter=Q(status=EarningStatus.PAID), default=zero),
    )
    completed = Q(status=SessionStatus.COMPLETED)
    month = Session.objects.filter(
        within("starts_at", this_month), teacher_id=teacher_id, school_id=school_id
    ).aggregate(
        completed=Count("id", filter=completed),
        minutes=Sum("actual_duration_minutes", filter=completed, default=0),
        no_shows=Count("id", filter=Q(status=SessionStatus.NO_SHOW)),
    )
    marks = (
        SessionStudent.objects.filter(
            within("session__starts_at", this_month),
            session__teacher_id=teacher_id,
            session__school_id=school_id,
            session__status__in=[SessionStatus.COMPLETED, SessionStatus.NO_SHOW],
        )
        .exclude(attendance="")
        .aggregate(marks=Count("id"), attended=Count("id", filter=Q(attendance__in=ATTENDED)))
    )
    assessed = ProgressAssessment.objects.filter(
        within("assessed_at", this_month), teacher_id=teacher_id, school_id=school_id
    ).aggregate(average=Avg("percentage"))
    return Figures(
        earned_this_month=earned["this_month"],
        earned_last_month=earned["last_month"],
        earned_pending=earned["pending"],
        earned_approved=earned["approved"],
        earned_paid=earned["paid"],
        sessions_completed=month["completed"],
        minutes_taught=month["minutes"],
        no_shows=month["no_shows"],
        marks=marks["marks"],
        attended=marks["attended"],
        assessment_average=assessed["average"],
    )


def _students(*, teacher_id: int, school_id: int, now: datetime) -> dict[str, Any]:
    """The teacher's current students in the school (a session with them in the last or the next
    ``CURRENT_STUDENT_DAYS`` days), with how they are doing: two queries.

    One grouped pass over the teacher's bookings gives each student's last and next session, and the start
    of their latest completed (or missed) session next to that of their latest attended one: the student
    missed their last session when the two differ. Names and subject standing are then read for those
    few students only.
    """
    happened = Q(session__starts_at__lte=now) & ~Q(session__status=SessionStatus.CANCELLED)
    coming = Q(session__starts_at__gt=now, session__status=SessionStatus.SCHEDULED)
    final = Q(session__status__in=[SessionStatus.COMPLETED, SessionStatus.NO_SHOW])
    current = timedelta(days=CURRENT_STUDENT_DAYS)
    rows = (
        SessionStudent.objects.filter(
            session__teacher_id=teacher_id,
            session__school_id=school_id,
            session__starts_at__gte=now - current,
            session__starts_at__lt=now + current,
        )
        .values("student_id")
        .order_by()
        .annotate(
            last_session_at=Max("session__starts_at", filter=happened),
            next_session_at=Min("session__starts_at", filter=coming),
            last_final_at=Max("session__starts_at", filter=final),
            last_attended_at=Max("session__starts_at", filter=final & Q(attendance__in=ATTENDED)),
        )
        .values_list("student_id", "last_session_at", "next_session_at", "last_final_at", "last_attended_at")
    )
    bookings = {row[0]: row[1:] for row in rows}
    results = []
    for student_id, name, percentage, trend in _names_and_standing(list(bookings)):
        last_session_at, next_session_at, last_final_at, last_attended_at = bookings[student_id]
        missed_last = last_final_at is not None and last_attended_at != last_final_at
        results.append(
            {
                "id": student_id,
                "name": name,
                "last_session_at": last_session_at,
                "next_session_at": next_session_at,
                "progress_percentage": percentage,
                "trend": trend,
                "missed_last_session": missed_last,
                "needs_attention": trend == Trend.DOWN or missed_last or next_session_at is None,
            }
        )
    return {"count": len(results), "results": results}


def _names_and_standing(student_ids: list[int]) -> list[tuple[int, str, str | None, str | None]]:
    """Per student, by name: the mean of their subject percentages and their worst subject trend (down,
    then up, then flat); ``None`` for a student with no progress yet."""
    subject_level = FilteredRelation("progress", condition=Q(progress__skill__isnull=True))
    percentages: dict[int, list[Decimal]] = defaultdict(list)
    trends: dict[int, set[str]] = defaultdict(set)
    names: dict[int, str] = {}
    for student_id, name, percentage, trend in (
        Student.objects.filter(pk__in=student_ids)
        .annotate(subject_level=subject_level)
        .values_list("pk", "user__full_name", "subject_level__percentage", "subject_level__trend")
    ):
        names[student_id] = name
        if trend is not None:
            trends[student_id].add(trend)
        if percentage is not None:
            percentages[student_id].append(percentage)
    standing: list[tuple[int, str, str | None, str | None]] = []
    for student_id, name in sorted(names.items(), key=lambda item: (item[1], item[0])):
        values = percentages.get(student_id)
        mean = _money(sum(values, Decimal(0)) / len(values)) if values else None
        seen = trends.get(student_id, set())
        worst = next((trend for trend in (Trend.DOWN, Trend.UP, Trend.FLAT) if trend in seen), None)
        standing.append((student_id, name, mean, worst))
    return standing


ASSESSMENT_COLUMNS = (
    "id",
    "student_id",
    "student__user__full_name",
    "subject_id",
    "subject__name",
    "skill_id",
    "skill__name",
    "kind",
    "score",
    "max_score",
    "percentage",
    "assessed_at",
    "session_id",
)


def _recent_assessments(*, teacher_id: int, school_id: int) -> list[dict[str, Any]]:
    rows = (
        ProgressAssessment.objects.filter(teacher_id=teacher_id, school_id=school_id)
        .order_by("-assessed_at", "-id")
        .values_list(*ASSESSMENT_COLUMNS)[:RECENT_ASSESSMENTS]
    )
    return [
        {
            "id": assessment_id,
            "student": {"id": student_id, "name": student_name},
            "subject": {"id": subject_id, "name": subject_name},
            "skill": {"id": skill_id, "name": skill_name} if skill_id is not None else None,
            "kind": kind,
            "score": str(score),
            "max_score": str(max_score),
            "percentage": str(percentage),
            "assessed_at": assessed_at,
            "session_id": session_id,
        }
        for (
            assessment_id,
            student_id,
            student_name,
            subject_id,
            subject_name,
            skill_id,
            skill_name,
            kind,
            score,
            max_score,
            percentage,
            assessed_at,
            session_id,
        ) in rows
    ]


def _earnings(figures: Figures, *, currency: str) -> dict[str, Any]:
    """Earned this month and last month (local), and all-time totals by status."""
    return {
        "currency": currency,
        "this_month": _money(figures.earned_this_month),
        "last_month": _money(figures.earned_last_month),
        "pending": _money(figures.earned_pending),
        "approved": _money(figures.earned_approved),
        "paid": _money(figures.earned_paid),
    }


def _stats(figures: Figures) -> dict[str, Any]:
    """This local month's sessions, hours, attendance, no-shows and average assessment."""
    average = figures.assessment_average
    return {
        "sessions_this_month": figures.sessions_completed,
        "hours_this_month": _money(Decimal(figures.minutes_taught) / 60),
        "attendance_rate": _money(Decimal(figures.attended) / figures.marks) if figures.marks else None,
        "no_shows_this_month": figures.no_shows,
        "average_assessment_percentage": _money(Decimal(average)) if average is not None else None,
    }


def _activity(*, teacher_id: int, school_id: int) -> list[dict[str, Any]]:
    rows = (
        ActivityLog.objects.filter(teacher_id=teacher_id, school_id=school_id)
        .order_by("-created_at", "-id")
        .values_list("id", "verb", "object_type", "object_id", "actor_id", "actor__full_name", "created_at")[
            :RECENT_ACTIVITY
        ]
    )
    return [
        {
            "id": entry_id,
            "verb": verb,
            "object_type": object_type,
            "object_id": object_id,
            "actor": {"id": actor_id, "name": actor_name} if actor_id is not None else None,
            "created_at": created_at,
        }
        for entry_id, verb, object_type, object_id, actor_id, actor_name, created_at in rows
    ]


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENTS))
