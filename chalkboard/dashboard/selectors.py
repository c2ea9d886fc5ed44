"""The consolidated teacher dashboard: one teacher's day in one school, built in a fixed number of queries
and served from a versioned cache that every relevant write bumps."""

from __future__ import annotations

import gzip
import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, overload
from zoneinfo import ZoneInfo

import orjson
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chalkboard.common.cache import cached_versioned, school_scope, teacher_scope
from chalkboard.common.decimals import SQLITE_UNITS_SUM, decimal_column, decimal_from_units, units_per_whole
from chalkboard.common.errors import NotFound
from chalkboard.common.rows import Rows, Statement, rows_read
from chalkboard.common.timezones import LocalCalendar
from chalkboard.earnings.models import EarningEntry, EarningStatus
from chalkboard.progress.models import Trend
from chalkboard.scheduling.models import ATTENDED, SessionStatus
from chalkboard.scheduling.serializers import session_shape
from chalkboard.schools.access import STAFF, Viewer
from chalkboard.schools.models import Role
from chalkboard.schools.selectors import school_ids_where_teaching

UPCOMING_DAYS = 7
CURRENT_STUDENT_DAYS = 90
TO_COMPLETE_DAYS = 90  # older sessions still "scheduled" are left to the sessions list
RECENT_ASSESSMENTS = 10
RECENT_ACTIVITY = 10
MAX_PAGE_SECONDS = 300
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class DashboardPage:
    """The dashboard as it is sent: its JSON compressed once, so that a cached page costs no compression per
    request. The cache holds it compressed (4 KB for a busy teacher's 29 KB of JSON), so every read and
    rebuild moves an eighth of the bytes through Redis; a client that does not take gzip gets it decompressed
    (some 35 µs)."""

    gzipped: bytes
    etag: str
    valid_until: datetime

    @property
    def body(self) -> bytes:
        """The JSON itself."""
        return gzip.decompress(self.gzipped)


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
    schools = school_ids_where_teaching(teacher_id=teacher_id, among=viewer.schools_where(*STAFF))
    if not schools:
        raise NotFound()
    return schools[0]


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
        build=lambda: dashboard_render_unchecked(teacher_id=teacher_id, school_id=school_id, now=timezone.now()),
        timeout=lambda page: max(1, int((page.valid_until - timezone.now()).total_seconds())),
        is_fresh=lambda page: timezone.now() < page.valid_until,
        found=found if asked is not None else None,
    )


def dashboard_render_unchecked(*, teacher_id: int, school_id: int, now: datetime) -> DashboardPage:
    """The page of any teacher in any school, for whoever asks: only ``dashboard_page``, after its checks."""
    data, valid_until = dashboard_build_unchecked(teacher_id=teacher_id, school_id=school_id, now=now)
    body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
    # Weak: the plain and the compressed representation carry the same tag.
    etag = 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    # Level 3: 0.12 to 0.14 ms for a busy teacher's page against 0.29 to 0.35 ms at 6, for 3.5 to 3.8 KB against
    # 3.0 to 3.3 KB; a rebuild is on the path of the first read after every write.
    gzipped = gzip.compress(body, compresslevel=3, mtime=0)
    return DashboardPage(gzipped=gzipped, etag=etag, valid_until=valid_until)


def dashboard_build_unchecked(*, teacher_id: int, school_id: int, now: datetime) -> tuple[dict[str, Any], datetime]:
    """The dashboard's data and the instant it turns stale by itself (a session starts, the day ends).

    Every section is read as plain rows (``values_list``), never as model instances: a rebuild is on the
    path of the first read after every write, and rows cost a fraction of the ORM's objects.
    """
    # Two round trips (``rows_read``: one pipeline each on PostgreSQL): what needs only the teacher and the
    # instant, then what needs the school's calendar (from the first) or the students found.
    head, bookings, assessments, activity = rows_read(
        [
            (HEAD_SQL, {"teacher": teacher_id, "school": school_id, "teacher_role": Role.TEACHER.value}),
            _bookings_statement(teacher_id=teacher_id, school_id=school_id, now=now),
            (RECENT_ASSESSMENTS_SQL, {"teacher": teacher_id, "school": school_id, "limit": RECENT_ASSESSMENTS}),
            (ACTIVITY_SQL, {"teacher": teacher_id, "school": school_id, "limit": RECENT_ACTIVITY}),
        ]
    )
    if not head:
        raise NotFound()
    name, email, school_name, school_timezone, currency = head[0]
    calendar = LocalCalendar(zone=ZoneInfo(school_timezone), now=now)
    teacher = {"id": teacher_id, "name": name}
    booked = {row[0]: row[1:] for row in bookings}
    second = [
        _sessions_statement(teacher_id=teacher_id, school_id=school_id, calendar=calendar),
        _figures_statement(teacher_id=teacher_id, school_id=school_id, calendar=calendar),
    ]
    if booked:
        second.append(_standing_statement(list(booked)))
    session_rows, figures_rows, *standing = rows_read(second)
    sessions = _sessions_shown(session_rows, teacher=teacher, school_id=school_id)

    today_start, tomorrow = calendar.today_start, calendar.tomorrow_start
    week_end = calendar.days_ahead(UPCOMING_DAYS + 1)
    today = [s for starts_at, s in sessions if today_start <= starts_at < tomorrow]
    upcoming = [s for starts_at, s in sessions if tomorrow <= starts_at < week_end]
    to_complete = [s for starts_at, s in sessions if s["status"] == SessionStatus.SCHEDULED and starts_at <= now]
    figures = _figures(figures_rows)
    data = {
        "teacher": {"id": teacher_id, "name": name, "email": email},
        "school": {"id": school_id, "name": school_name, "timezone": school_timezone, "currency": currency},
        "generated_at": now,
        "today": {"date": calendar.today.isoformat(), "sessions": today},
        "upcoming": upcoming,
        "to_complete": to_complete,
        "students": _students(booked, standing[0] if standing else []),
        "recent_assessments": _recent_assessments(assessments),
        "earnings": _earnings(figures, currency=currency),
        "stats": _stats(figures),
        "activity": _activity(activity),
    }
    next_start = min((starts_at for starts_at, _ in sessions if starts_at > now), default=None)
    valid_until = min(t for t in (now + timedelta(seconds=MAX_PAGE_SECONDS), calendar.tomorrow_start, next_start) if t)
    return data, valid_until


# The values the statements below compare statuses and attendance with, under the names they use.
PRESENT, LATE = ATTENDED
STATUSES = {
    "scheduled": SessionStatus.SCHEDULED.value,
    "completed": SessionStatus.COMPLETED.value,
    "no_show": SessionStatus.NO_SHOW.value,
    "cancelled": SessionStatus.CANCELLED.value,
    "pending": EarningStatus.PENDING.value,
    "approved": EarningStatus.APPROVED.value,
    "paid": EarningStatus.PAID.value,
    "held": EarningStatus.HELD.value,
    "present": PRESENT.value,
    "late": LATE.value,
}

HEAD_SQL = """
SELECT person.full_name, person.email, school.name, school.timezone, school.currency
FROM schools_membership AS membership
JOIN accounts_user AS person ON person.id = membership.user_id
JOIN schools_school AS school ON school.id = membership.school_id
WHERE membership.user_id = %(teacher)s AND membership.school_id = %(school)s
  AND membership.role = %(teacher_role)s AND membership.is_active
"""
SESSIONS_SQL = """
SELECT session.id, session.subject_id, subject.name, session.starts_at, session.planned_duration_minutes,
       session.status, session.location, session.completed_at, session.actual_duration_minutes, session.version,
       booking.student_id, person.full_name, booking.attendance
FROM scheduling_session AS session
JOIN schools_subject AS subject ON subject.id = session.subject_id
LEFT JOIN scheduling_sessionstudent AS booking ON booking.session_id = session.id
LEFT JOIN people_student AS student ON student.id = booking.student_id
LEFT JOIN accounts_user AS person ON person.id = student.user_id
WHERE session.teacher_id = %(teacher)s AND session.school_id = %(school)s
  AND ((session.starts_at >= %(today)s AND session.starts_at < %(week_end)s)
       OR (session.status = %(scheduled)s AND session.starts_at >= %(waiting_since)s
           AND session.starts_at <= %(now)s))
ORDER BY session.starts_at, session.id, booking.id
"""


def _sessions_statement(*, teacher_id: int, school_id: int, calendar: LocalCalendar) -> Statement:
    when = connection.ops.adapt_datetimefield_value
    return (
        SESSIONS_SQL,
        {
            "teacher": teacher_id,
            "school": school_id,
            "today": when(calendar.today_start),
            "week_end": when(calendar.days_ahead(UPCOMING_DAYS + 1)),
            **STATUSES,
            "waiting_since": when(calendar.now - timedelta(days=TO_COMPLETE_DAYS)),
            "now": when(calendar.now),
        },
    )


def _sessions_shown(rows: Rows, *, teacher: dict[str, Any], school_id: int) -> list[tuple[datetime, dict[str, Any]]]:
    """Today's and the next week's sessions, and the recent ones still waiting to be completed, as the
    sessions API shows them, each with its start, from ``SESSIONS_SQL``'s rows (one per booking)."""
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
            start: datetime = _instant(starts_at)
            payload = session_shape(
                session_id=session_id,
                school_id=school_id,
                teacher=teacher,
                subject={"id": subject_id, "name": subject_name},
                starts_at=start,
                planned_duration_minutes=planned,
                status=status,
                location=location,
                students=[],
                completed_at=_instant(completed_at),
                actual_duration_minutes=actual,
                version=version,
            )
            shown.append((start, payload))
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
    earned_held: Decimal
    sessions_completed: int
    minutes_taught: int
    no_shows: int
    marks: int
    attended: int
    assessment_average: Decimal | None


# The figures in one statement: four single-row aggregates (the teacher's ledger, this month's sessions,
# their attendance marks, their assessments), joined. Written as SQL rather than built with the ORM: the
# ORM's construction of these eleven filtered aggregates cost three times their execution (profiled), on
# the path of the first read after every write. Plain SQL that SQLite (3.30+) and PostgreSQL both run.
FIGURES_SQL = """
SELECT e.this_month, e.last_month, e.pending, e.approved, e.paid, e.held,
       s.completed, s.minutes, s.no_shows, m.marks, m.attended, a.average
FROM (
    SELECT SUM(amount) FILTER (WHERE earned_at >= %(month)s AND earned_at < %(next_month)s
                                 AND status IN (%(pending)s, %(approved)s, %(paid)s)) AS this_month,
           SUM(amount) FILTER (WHERE earned_at >= %(last_month)s AND earned_at < %(month)s
                                 AND status IN (%(pending)s, %(approved)s, %(paid)s)) AS last_month,
           SUM(amount) FILTER (WHERE status = %(pending)s) AS pending,
           SUM(amount) FILTER (WHERE status = %(approved)s) AS approved,
           SUM(amount) FILTER (WHERE status = %(paid)s) AS paid,
           SUM(amount) FILTER (WHERE status = %(held)s) AS held
    FROM earnings_earningentry
    WHERE teacher_id = %(teacher)s AND school_id = %(school)s
) AS e CROSS JOIN (
    SELECT COUNT(*) FILTER (WHERE status = %(completed)s) AS completed,
           SUM(actual_duration_minutes) FILTER (WHERE status = %(completed)s) AS minutes,
           COUNT(*) FILTER (WHERE status = %(no_show)s) AS no_shows
    FROM scheduling_session
    WHERE teacher_id = %(teacher)s AND school_id = %(school)s
      AND starts_at >= %(month)s AND starts_at < %(next_month)s
) AS s CROSS JOIN (
    SELECT COUNT(*) AS marks,
           COUNT(*) FILTER (WHERE booking.attendance IN (%(present)s, %(late)s)) AS attended
    FROM scheduling_sessionstudent AS booking
    WHERE booking.session_teacher_id = %(teacher)s AND booking.session_school_id = %(school)s
      AND booking.session_starts_at >= %(month)s AND booking.session_starts_at < %(next_month)s
      AND booking.session_status IN (%(completed)s, %(no_show)s) AND booking.attendance <> ''
) AS m CROSS JOIN (
    SELECT AVG(percentage) AS average
    FROM progress_progressassessment
    WHERE teacher_id = %(teacher)s AND school_id = %(school)s
      AND assessed_at >= %(month)s AND assessed_at < %(next_month)s
) AS a
"""


# SQLite adds decimals as floats: there the ledger's sums add whole cents instead, exactly (the reasons are at
# SQLITE_UNITS_SUM). PostgreSQL runs the statement as written, its numeric sums exact already.
AMOUNT = decimal_column(EarningEntry, "amount")
FIGURES_SQL_SQLITE = FIGURES_SQL.replace(
    "SUM(amount)", SQLITE_UNITS_SUM.format(column="amount", units=units_per_whole(AMOUNT))
)


def _figures_statement(*, teacher_id: int, school_id: int, calendar: LocalCalendar) -> Statement:
    """Earnings and this local month's figures: one aggregate pass over each of the teacher's ledger,
    month of sessions, month of attendance marks and month of assessments, in one query."""
    when = connection.ops.adapt_datetimefield_value
    params = {
        **STATUSES,
        "teacher": teacher_id,
        "school": school_id,
        "month": when(calendar.month_start),
        "next_month": when(calendar.next_month_start),
        "last_month": when(calendar.last_month_start),
    }
    return (FIGURES_SQL_SQLITE if connection.vendor == "sqlite" else FIGURES_SQL, params)


def _figures(rows: Rows) -> Figures:
    (row,) = rows
    this_month, last_month, pending, approved, paid, held, completed, minutes, no_shows, marks, attended, average = row
    return Figures(
        earned_this_month=_amount(this_month),
        earned_last_month=_amount(last_month),
        earned_pending=_amount(pending),
        earned_approved=_amount(approved),
        earned_paid=_amount(paid),
        earned_held=_amount(held),
        sessions_completed=completed,
        minutes_taught=minutes or 0,
        no_shows=no_shows,
        marks=marks,
        attended=attended,
        assessment_average=None if average is None else _decimal(average),
    )


def _amount(value: Decimal | int | None) -> Decimal:
    """A sum of the ledger as the database returns it (SQLite: whole cents; ``None`` over no rows)."""
    return decimal_from_units(value, places=AMOUNT.decimal_places or 0) or Decimal(0)


def _decimal(value: Decimal | float | int | None) -> Decimal:
    """A score, a percentage or their mean as the database returns it (SQLite: a float or an int; ``None``
    over no rows) as a Decimal. Not money: a stored value of at most 12 digits reads back as written, and a
    mean is rounded to hundredths anyway."""
    return Decimal(0) if value is None else Decimal(str(value))


# The current students: a grouped pass over the teacher's bookings, then the names and subject-level
# progress of those students (by id: joined in one statement, the planner scanned every student and every
# progress row). SQL for the reason given at FIGURES_SQL. The bookings are read by the copy of their session's
# teacher, school, start and status that each carries (chalkboard/scheduling/triggers.py), from one index
# alone: through the sessions, a busy teacher's 770 sessions were 770 probes of the bookings' index, 2.4 ms
# an execution against 0.9 (docs/performance.md).
BOOKINGS_SQL = """
SELECT booking.student_id,
       MAX(booking.session_starts_at) FILTER (
           WHERE booking.session_starts_at <= %(now)s AND booking.session_status <> %(cancelled)s
       ) AS last_session_at,
       MIN(booking.session_starts_at) FILTER (
           WHERE booking.session_starts_at > %(now)s AND booking.session_status = %(scheduled)s
       ) AS next_session_at,
       MAX(booking.session_starts_at) FILTER (
           WHERE booking.session_status IN (%(completed)s, %(no_show)s)
       ) AS last_final_at,
       MAX(booking.session_starts_at) FILTER (
           WHERE booking.session_status IN (%(completed)s, %(no_show)s)
             AND booking.attendance IN (%(present)s, %(late)s)
       ) AS last_attended_at
FROM scheduling_sessionstudent AS booking
WHERE booking.session_teacher_id = %(teacher)s AND booking.session_school_id = %(school)s
  AND booking.session_starts_at >= %(since)s AND booking.session_starts_at < %(until)s
  AND {assigned}
GROUP BY booking.student_id
"""
# Whether a booking's student is assigned to the teacher. PostgreSQL reads the teacher's assigned students once,
# as an array (a few dozen ids), and looks each booking up in it. Written as a join (``EXISTS``, or ``IN`` and a
# subquery), the prepared statement's generic plan probed the assignments' index once per booking instead: a
# fifth of the statement's time for the bench's busy teachers (846 bookings of 770 sessions; pgbench).
ASSIGNED_ON_POSTGRESQL = (
    "booking.student_id = ANY(ARRAY("
    "SELECT assignment.student_id FROM people_teachingassignment AS assignment "
    "WHERE assignment.teacher_id = %(teacher)s))"
)
ASSIGNED_ELSEWHERE = """EXISTS (
      SELECT 1 FROM people_teachingassignment AS assignment
      WHERE assignment.teacher_id = booking.session_teacher_id AND assignment.student_id = booking.student_id
  )"""
BOOKINGS_SQL_POSTGRESQL = BOOKINGS_SQL.format(assigned=ASSIGNED_ON_POSTGRESQL)
BOOKINGS_SQL_SQLITE = BOOKINGS_SQL.format(assigned=ASSIGNED_ELSEWHERE)
STANDING_SQL = """
SELECT student.id, person.full_name, standing.percentage, standing.trend
FROM people_student AS student
JOIN accounts_user AS person ON person.id = student.user_id
LEFT JOIN progress_studentprogress AS standing ON standing.student_id = student.id AND standing.skill_id IS NULL
WHERE student.id {among}
"""


def _bookings_statement(*, teacher_id: int, school_id: int, now: datetime) -> Statement:
    when = connection.ops.adapt_datetimefield_value
    current = timedelta(days=CURRENT_STUDENT_DAYS)
    params = {
        **STATUSES,
        "teacher": teacher_id,
        "school": school_id,
        "now": when(now),
        "since": when(now - current),
        "until": when(now + current),
    }
    if connection.vendor == "postgresql":
        return (BOOKINGS_SQL_POSTGRESQL, params)  # only on PostgreSQL
    return (BOOKINGS_SQL_SQLITE, params)  # only on SQLite


def _standing_statement(ids: list[int]) -> Statement:
    """The students' names and subject standing, by id. PostgreSQL: the ids as one array, so that the
    statement is the same whatever the number of students, and is prepared once per connection (a list of
    placeholders made a statement per count)."""
    if connection.vendor == "postgresql":
        return (STANDING_SQL.format(among="= ANY(%s::bigint[])"), [ids])  # only on PostgreSQL
    return (STANDING_SQL.format(among=f"IN ({', '.join(['%s'] * len(ids))})"), ids)  # only on SQLite


def _students(bookings: dict[int, tuple[Any, ...]], standing: Rows) -> dict[str, Any]:
    """The teacher's current students in the school (assigned to them, with a session in the last or the
    next ``CURRENT_STUDENT_DAYS`` days), by name, with how they are doing: from two queries.

    One grouped pass over the teacher's bookings (``BOOKINGS_SQL``, by student) gives each student's last
    and next session, and the start of their latest completed (or missed) session next to that of their
    latest attended one: the student missed their last session when the two differ. Their standing
    (``STANDING_SQL``) is the mean of their subject percentages and their worst subject trend (down, then
    up, then flat); ``None`` without progress yet.
    """
    students: dict[int, tuple[str, datetime | None, datetime | None, bool]] = {}
    percentages: dict[int, list[Decimal]] = defaultdict(list)
    trends: dict[int, set[str]] = defaultdict(set)
    for student_id, name, percentage, trend in standing:
        last_at, next_at, last_final_at, last_attended_at = bookings[student_id]
        missed_last = last_final_at is not None and last_attended_at != last_final_at
        students[student_id] = (name, _instant(last_at), _instant(next_at), missed_last)
        if trend is not None:
            trends[student_id].add(trend)
        if percentage is not None:
            percentages[student_id].append(_decimal(percentage))
    results = []
    for student_id, (name, last_session_at, next_session_at, missed_last) in sorted(
        students.items(), key=lambda item: (item[1][0], item[0])
    ):
        values = percentages.get(student_id)
        seen = trends.get(student_id, set())
        worst = next((trend for trend in (Trend.DOWN, Trend.UP, Trend.FLAT) if trend in seen), None)
        results.append(
            {
                "id": student_id,
                "name": name,
                "last_session_at": last_session_at,
                "next_session_at": next_session_at,
                "progress_percentage": _money(sum(values, Decimal(0)) / len(values)) if values else None,
                "trend": worst,
                "missed_last_session": missed_last,
                "needs_attention": worst == Trend.DOWN or missed_last or next_session_at is None,
            }
        )
    return {"count": len(results), "results": results}


@overload
def _instant(value: datetime | str) -> datetime: ...
@overload
def _instant(value: None) -> None: ...
def _instant(value: datetime | str | None) -> datetime | None:
    """A timestamp as the database returns it: PostgreSQL an aware datetime; SQLite, in UTC, a naive
    datetime for a column and text for an aggregate."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValueError(f"not a timestamp: {value!r}")
        value = parsed
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


RECENT_ASSESSMENTS_SQL = """
SELECT assessment.id, assessment.student_id, person.full_name, assessment.subject_id, subject.name,
       assessment.skill_id, skill.name, assessment.kind, assessment.score, assessment.max_score,
       assessment.percentage, assessment.assessed_at, assessment.session_id
FROM progress_progressassessment AS assessment
JOIN people_student AS student ON student.id = assessment.student_id
JOIN accounts_user AS person ON person.id = student.user_id
JOIN schools_subject AS subject ON subject.id = assessment.subject_id
LEFT JOIN schools_skill AS skill ON skill.id = assessment.skill_id
WHERE assessment.teacher_id = %(teacher)s AND assessment.school_id = %(school)s
ORDER BY assessment.assessed_at DESC, assessment.id DESC
LIMIT %(limit)s
"""


def _recent_assessments(rows: Rows) -> list[dict[str, Any]]:
    return [
        {
            "id": assessment_id,
            "student": {"id": student_id, "name": student_name},
            "subject": {"id": subject_id, "name": subject_name},
            "skill": {"id": skill_id, "name": skill_name} if skill_id is not None else None,
            "kind": kind,
            "score": _money(_decimal(score)),
            "max_score": _money(_decimal(max_score)),
            "percentage": _money(_decimal(percentage)),
            "assessed_at": _instant(assessed_at),
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
    """Earned this month and last month (local: pending, approved or paid), and all-time totals by status,
    ``held`` (awaiting the school's review) apart from the rest."""
    return {
        "currency": currency,
        "this_month": _money(figures.earned_this_month),
        "last_month": _money(figures.earned_last_month),
        "pending": _money(figures.earned_pending),
        "approved": _money(figures.earned_approved),
        "paid": _money(figures.earned_paid),
        "held": _money(figures.earned_held),
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


ACTIVITY_SQL = """
SELECT entry.id, entry.verb, entry.object_type, entry.object_id, entry.actor_id, actor.full_name, entry.created_at
FROM activity_activitylog AS entry
LEFT JOIN accounts_user AS actor ON actor.id = entry.actor_id
WHERE entry.teacher_id = %(teacher)s AND entry.school_id = %(school)s
ORDER BY entry.created_at DESC, entry.id DESC
LIMIT %(limit)s
"""


def _activity(rows: Rows) -> list[dict[str, Any]]:
    return [
        {
            "id": entry_id,
            "verb": verb,
            "object_type": object_type,
            "object_id": object_id,
            "actor": {"id": actor_id, "name": actor_name} if actor_id is not None else None,
            "created_at": _instant(created_at),
        }
        for entry_id, verb, object_type, object_id, actor_id, actor_name, created_at in rows
    ]


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENTS))
