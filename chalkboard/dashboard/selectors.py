"""The consolidated teacher dashboard: one teacher's day in one school, built in a fixed number of queries
and served from a versioned cache that every relevant write bumps."""

from __future__ import annotations

import gzip
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from django.db.models import (
    Avg,
    BooleanField,
    Case,
    Count,
    DecimalField,
    F,
    FilteredRelation,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from chalkboard.activity.models import ActivityLog
from chalkboard.common.cache import cached_versioned, school_scope, teacher_scope
from chalkboard.common.errors import NotFound
from chalkboard.common.timezones import LocalCalendar
from chalkboard.earnings.models import EarningEntry, EarningStatus
from chalkboard.people.models import Student
from chalkboard.progress.models import ProgressAssessment, Trend
from chalkboard.scheduling.models import ATTENDED, Session, SessionStatus, SessionStudent
from chalkboard.scheduling.selectors import BOOKED, booked_students
from chalkboard.scheduling.serializers import session_payload
from chalkboard.schools.access import STAFF, Viewer
from chalkboard.schools.models import Membership, Role, School

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


def dashboard_page(*, viewer: Viewer, teacher_id: int, school_id: int | None) -> DashboardPage:
    """The dashboard as JSON bytes with its ETag, from the cache when it is current."""
    school_id = dashboard_school_id(viewer=viewer, teacher_id=teacher_id, school_id=school_id)
    return cached_versioned(
        f"dashboard:{teacher_id}:{school_id}",
        scopes=[teacher_scope(teacher_id, school_id), school_scope(school_id)],
        build=lambda: dashboard_render(teacher_id=teacher_id, school_id=school_id, now=timezone.now()),
        timeout=lambda page: max(1, int((page.valid_until - timezone.now()).total_seconds())),
        is_fresh=lambda page: timezone.now() < page.valid_until,
    )


def dashboard_render(*, teacher_id: int, school_id: int, now: datetime) -> DashboardPage:
    data, valid_until = dashboard_build(teacher_id=teacher_id, school_id=school_id, now=now)
    body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
    # Weak: the plain and the compressed representation carry the same tag.
    etag = 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    gzipped = gzip.compress(body, compresslevel=6, mtime=0)
    return DashboardPage(body=body, gzipped=gzipped, etag=etag, valid_until=valid_until)


def dashboard_build(*, teacher_id: int, school_id: int, now: datetime) -> tuple[dict[str, Any], datetime]:
    """The dashboard's data and the instant it turns stale by itself (a session starts, the day ends)."""
    teaching = Membership.objects.filter(user_id=teacher_id, school_id=school_id, role=Role.TEACHER, is_active=True)
    school = School.objects.filter(pk=school_id, memberships__in=teaching).first()
    if school is None:
        raise NotFound()
    calendar = LocalCalendar(zone=school.zone, now=now)
    membership = teaching.select_related("user", "school").annotate(**_figures(calendar=calendar)).get()
    user = membership.user
    sessions = _sessions_shown(teacher_id=teacher_id, school_id=school_id, calendar=calendar)

    today = [s for s in sessions if calendar.today_start <= s.starts_at < calendar.tomorrow_start]
    upcoming = [s for s in sessions if calendar.tomorrow_start <= s.starts_at < calendar.days_ahead(UPCOMING_DAYS + 1)]
    to_complete = [s for s in sessions if s.status == SessionStatus.SCHEDULED and s.starts_at <= now]
    data = {
        "teacher": {"id": user.pk, "name": user.full_name, "email": user.email},
        "school": {"id": school.pk, "name": school.name, "timezone": school.timezone, "currency": school.currency},
        "generated_at": now,
        "today": {"date": calendar.today.isoformat(), "sessions": [session_payload(s) for s in today]},
        "upcoming": [session_payload(s) for s in upcoming],
        "to_complete": [session_payload(s) for s in to_complete],
        "students": _students(teacher_id=teacher_id, school_id=school_id, now=now),
        "recent_assessments": _recent_assessments(teacher_id=teacher_id, school_id=school_id),
        "earnings": _earnings(membership, currency=school.currency),
        "stats": _stats(membership),
        "activity": _activity(teacher_id=teacher_id, school_id=school_id),
    }
    next_start = min((s.starts_at for s in sessions if s.starts_at > now), default=None)
    valid_until = min(t for t in (now + timedelta(seconds=MAX_PAGE_SECONDS), calendar.tomorrow_start, next_start) if t)
    return data, valid_until


def _sessions_shown(*, teacher_id: int, school_id: int, calendar: LocalCalendar) -> list[Session]:
    """Today's and the next week's sessions, and the recent ones still waiting to be completed: two queries."""
    coming = Q(starts_at__gte=calendar.today_start, starts_at__lt=calendar.days_ahead(UPCOMING_DAYS + 1))
    waiting = Q(
        status=SessionStatus.SCHEDULED,
        starts_at__gte=calendar.now - timedelta(days=TO_COMPLETE_DAYS),
        starts_at__lte=calendar.now,
    )
    return list(
        Session.objects.filter(coming | waiting, teacher_id=teacher_id, school_id=school_id)
        .select_related("subject", "teacher__user")
        .prefetch_related(Prefetch("attendees", queryset=booked_students(), to_attr=BOOKED))
        .order_by("starts_at", "id")
    )


def _figures(*, calendar: LocalCalendar) -> dict[str, Any]:
    """Earnings and this month's figures as scalar subqueries, so that they come back in the same row as
    the check that the teacher teaches in the school: one round trip for all of them."""
    teacher, school = OuterRef("user_id"), OuterRef("school_id")
    month_start, month_end, last_month_start = (
        calendar.month_start,
        calendar.next_month_start,
        calendar.last_month_start,
    )

    def scalar(queryset: QuerySet[Any], value: Any, *, default: Any) -> Any:
        total = Subquery(queryset.order_by().values(group=Value(1)).annotate(value=value).values("value")[:1])
        return total if default is None else Coalesce(total, default)

    def earned(**where: Any) -> Any:
        entries = EarningEntry.objects.filter(teacher_id=teacher, school_id=school, **where)
        return scalar(entries, Sum("amount"), default=Value(Decimal(0), output_field=DecimalField()))

    def counted(queryset: QuerySet[Any], value: Any = None) -> Any:
        return scalar(queryset, value or Count("id"), default=Value(0))

    month = Session.objects.filter(
        teacher_id=teacher, school_id=school, starts_at__gte=month_start, starts_at__lt=month_end
    )
    completed = month.filter(status=SessionStatus.COMPLETED)
    marks = SessionStudent.objects.filter(
        session__teacher_id=teacher,
        session__school_id=school,
        session__starts_at__gte=month_start,
        session__starts_at__lt=month_end,
        session__status__in=[SessionStatus.COMPLETED, SessionStatus.NO_SHOW],
    ).exclude(attendance="")
    assessed = ProgressAssessment.objects.filter(
        teacher_id=teacher, school_id=school, assessed_at__gte=month_start, assessed_at__lt=month_end
    )
    return {
        "earned_this_month": earned(earned_at__gte=month_start, earned_at__lt=month_end),
        "earned_last_month": earned(earned_at__gte=last_month_start, earned_at__lt=month_start),
        "earned_pending": earned(status=EarningStatus.PENDING),
        "earned_approved": earned(status=EarningStatus.APPROVED),
        "earned_paid": earned(status=EarningStatus.PAID),
        "sessions_completed": counted(completed),
        "minutes_taught": counted(completed, Sum("actual_duration_minutes")),
        "no_shows": counted(month.filter(status=SessionStatus.NO_SHOW)),
        "marks": counted(marks),
        "attended": counted(marks.filter(attendance__in=ATTENDED)),
        "assessment_average": scalar(assessed, Avg("percentage"), default=None),
    }


def _students(*, teacher_id: int, school_id: int, now: datetime) -> dict[str, Any]:
    """The teacher's current students in the school (a session with them in the last or the next
    ``CURRENT_STUDENT_DAYS`` days), with how they are doing: two queries.

    Window functions over the teacher's bookings give each student's last and next session and the
    attendance of their latest completed (or missed) one, keeping a single row per student; names and
    subject standing are then read for those few students only.
    """
    by_student = [F("student_id")]
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
        .annotate(
            last_session_at=Window(Max(Case(When(happened, then=F("session__starts_at")))), partition_by=by_student),
            next_session_at=Window(Min(Case(When(coming, then=F("session__starts_at")))), partition_by=by_student),
            latest_final_first=Window(
                RowNumber(),
                partition_by=by_student,
                order_by=[
                    Case(When(final, then=0), default=1, output_field=IntegerField()).asc(),
                    F("session__starts_at").desc(),
                    F("session_id").desc(),
                ],
            ),
            final_session=Case(When(final, then=True), default=False, output_field=BooleanField()),
        )
        .filter(latest_final_first=1)
        .values_list("student_id", "attendance", "final_session", "last_session_at", "next_session_at")
    )
    bookings = {row[0]: row[1:] for row in rows}
    results = []
    for student_id, name, percentage, trend in _names_and_standing(list(bookings)):
        attendance, final_session, last_session_at, next_session_at = bookings[student_id]
        missed_last = final_session and attendance not in ATTENDED
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


def _recent_assessments(*, teacher_id: int, school_id: int) -> list[dict[str, Any]]:
    assessments = (
        ProgressAssessment.objects.filter(teacher_id=teacher_id, school_id=school_id)
        .select_related("student__user", "subject", "skill")
        .order_by("-assessed_at", "-id")[:RECENT_ASSESSMENTS]
    )
    return [_assessment_item(assessment) for assessment in assessments]


def _assessment_item(assessment: ProgressAssessment) -> dict[str, Any]:
    return {
        "id": assessment.pk,
        "student": {"id": assessment.student_id, "name": assessment.student.user.full_name},
        "subject": {"id": assessment.subject_id, "name": assessment.subject.name},
        "skill": {"id": assessment.skill_id, "name": assessment.skill.name} if assessment.skill else None,
        "kind": assessment.kind,
        "score": str(assessment.score),
        "max_score": str(assessment.max_score),
        "percentage": str(assessment.percentage),
        "assessed_at": assessment.assessed_at,
        "session_id": assessment.session_id,
    }


def _earnings(figures: Any, *, currency: str) -> dict[str, Any]:
    """Earned this month and last month (local), and all-time totals by status."""
    return {
        "currency": currency,
        "this_month": _money(figures.earned_this_month),
        "last_month": _money(figures.earned_last_month),
        "pending": _money(figures.earned_pending),
        "approved": _money(figures.earned_approved),
        "paid": _money(figures.earned_paid),
    }


def _stats(figures: Any) -> dict[str, Any]:
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
    entries = (
        ActivityLog.objects.filter(teacher_id=teacher_id, school_id=school_id)
        .select_related("actor")
        .order_by("-created_at", "-id")[:RECENT_ACTIVITY]
    )
    return [
        {
            "id": entry.pk,
            "verb": entry.verb,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "actor": {"id": entry.actor_id, "name": entry.actor.full_name} if entry.actor else None,
            "created_at": entry.created_at,
        }
        for entry in entries
    ]


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENTS))
