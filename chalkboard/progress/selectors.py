"""Reads of assessments, progress and goals, always scoped to the viewer first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from chalkboard.common.cache import cached_versioned, school_scope, student_scope
from chalkboard.common.errors import Forbidden, NotFound
from chalkboard.common.rows import Columns, rows_read
from chalkboard.common.timezones import local_midnight
from chalkboard.people.models import Student, TeachingAssignment
from chalkboard.people.selectors import assigned_to, student_visibility
from chalkboard.progress.models import Level, ProgressAssessment, ProgressGoal, StudentProgress, Trend
from chalkboard.progress.scoring import EVIDENCE_LIMIT, Evidence
from chalkboard.scheduling.models import Attendance, NoteVisibility, SessionNote, SessionStatus, SessionStudent
from chalkboard.schools.access import STAFF, Viewer
from chalkboard.schools.models import Role, School

PROGRESS_PAGE_TIMEOUT = 10 * 60
HISTORY_POINTS = 50
RECENT_ASSESSMENTS = 10
PAGE_NOTES = 20
RATE_PLACES = Decimal("0.01")

STUDENT_NOT_YOURS = "Only the school's staff or a teacher of this student may record their progress."

# --- Output shapes, shared by the API, the events and the cached progress page. ------------------------


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as every API time is written."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def decimal_text(value: Decimal | None) -> str | None:
    """A percentage or a score as the API writes it: a string with two decimals."""
    return None if value is None else f"{value:.2f}"


def assessment_item(assessment: ProgressAssessment) -> dict[str, Any]:
    """An assessment as the API shows it. Needs ``student__user``, ``subject``, ``skill`` and ``teacher__user``."""
    skill = assessment.skill
    return {
        "id": assessment.pk,
        "student": {"id": assessment.student_id, "name": assessment.student.user.full_name},
        "subject": {"id": assessment.subject_id, "name": assessment.subject.name},
        "skill": None if skill is None else {"id": skill.pk, "name": skill.name},
        "teacher": {"id": assessment.teacher_id, "name": assessment.teacher.user.full_name},
        "session_id": assessment.session_id,
        "kind": assessment.kind,
        "score": decimal_text(assessment.score),
        "max_score": decimal_text(assessment.max_score),
        "percentage": decimal_text(assessment.percentage),
        "assessed_at": iso(assessment.assessed_at),
        "comments": assessment.comments,
    }


def goal_item(goal: ProgressGoal) -> dict[str, Any]:
    """A goal as the goals API shows it. Needs ``subject`` and ``skill``."""
    skill = goal.skill
    return {
        "id": goal.pk,
        "student_id": goal.student_id,
        "subject": {"id": goal.subject_id, "name": goal.subject.name},
        "skill": None if skill is None else {"id": skill.pk, "name": skill.name},
        "title": goal.title,
        "target_percentage": decimal_text(goal.target_percentage),
        "due_date": None if goal.due_date is None else goal.due_date.isoformat(),
        "achieved_at": iso(goal.achieved_at),
        "created_at": iso(goal.created_at),
        "updated_at": iso(goal.updated_at),
    }


# --- Assessments. -----------------------------------------------------------------------------------


def assessment_visibility(viewer: Viewer) -> Q:
    """All assessments of the schools the viewer runs; as a teacher, those of the students assigned to them
    in that school and those recorded in their name; a student's own; a guardian's children's."""
    visible = Q(school_id__in=viewer.schools_where(*STAFF))
    teaching = viewer.schools_where(Role.TEACHER)
    if teaching:
        pupil = assigned_to(viewer.teacher_id, student="student_id")
        visible |= Q(school_id__in=teaching) & (Q(teacher_id=viewer.teacher_id) | Q(pupil))
    if viewer.own_and_ward_student_ids:
        visible |= Q(student_id__in=viewer.own_and_ward_student_ids)
    return visible


def _with_item_relations(queryset: QuerySet[ProgressAssessment]) -> QuerySet[ProgressAssessment]:
    return queryset.select_related("student__user", "subject", "skill", "teacher__user").order_by("-assessed_at", "-id")


def _day_start(day: date, school: tuple[int, str]) -> Q:
    """Assessments of one school from the start of ``day`` in that school's time zone."""
    school_id, zone_name = school
    return Q(school_id=school_id, assessed_at__gte=local_midnight(day, ZoneInfo(zone_name)))


def _day_end(day: date, school: tuple[int, str]) -> Q:
    """Assessments of one school up to the end of ``day`` in that school's time zone."""
    school_id, zone_name = school
    return Q(school_id=school_id, assessed_at__lt=local_midnight(day + timedelta(days=1), ZoneInfo(zone_name)))


def _any_of(conditions: list[Q]) -> Q:
    combined = Q(pk__in=[])
    for condition in conditions:
        combined |= condition
    return combined


def assessment_list(
    *,
    viewer: Viewer,
    student_id: int | None = None,
    subject_id: int | None = None,
    teacher_id: int | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> QuerySet[ProgressAssessment]:
    """Visible assessments, newest first, with what an item shows, in a fixed number of queries.

    ``since`` / ``until`` are instants, or days (whole days, ``until`` included) in each school's time zone.
    """
    queryset = ProgressAssessment.objects.filter(assessment_visibility(viewer))
    if student_id is not None:
        queryset = queryset.filter(student_id=student_id)
    if subject_id is not None:
        queryset = queryset.filter(subject_id=subject_id)
    if teacher_id is not None:
        queryset = queryset.filter(teacher_id=teacher_id)
    day_bounds = [bound for bound in (since, until) if bound is not None and not isinstance(bound, datetime)]
    schools = list(School.objects.filter(pk__in=viewer.school_ids).values_list("id", "timezone")) if day_bounds else []
    if isinstance(since, datetime):
        queryset = queryset.filter(assessed_at__gte=since)
    elif since is not None:
        queryset = queryset.filter(_any_of([_day_start(since, school) for school in schools]))
    if isinstance(until, datetime):
        queryset = queryset.filter(assessed_at__lte=until)
    elif until is not None:
        queryset = queryset.filter(_any_of([_day_end(until, school) for school in schools]))
    return _with_item_relations(queryset)


EVIDENCE = Columns(ProgressAssessment, "assessment", ["percentage", "assessed_at"])
# Written in SQL: the ORM's statement (a window over a filter) cost more to build than this one costs to run.
EVIDENCE_SQL = f"""
SELECT {EVIDENCE.sql}, COUNT(*) OVER ()
FROM progress_progressassessment AS assessment
WHERE assessment.student_id = %s AND assessment.subject_id = %s {{skill}}
ORDER BY assessment.assessed_at DESC, assessment.id DESC
LIMIT {EVIDENCE_LIMIT}
"""  # noqa: S608 (quoted model metadata)  # nosec B608


def scope_evidence(*, student_id: int, subject_id: int, skill_id: int | None) -> tuple[list[Evidence], int]:
    """The scope's latest ``EVIDENCE_LIMIT`` assessments (newest first) and how many it has in all.

    One query on an index (``student, subject|skill, assessed_at``); the total is a window count, so the
    older history is counted, never loaded.
    """
    params = [student_id, subject_id]
    if skill_id is not None:
        params.append(skill_id)
    skill = "" if skill_id is None else "AND assessment.skill_id = %s"
    (rows,) = rows_read([(EVIDENCE_SQL.format(skill=skill), params)])
    evidence = [Evidence(percentage=EVIDENCE.value(0, row[0]), assessed_at=EVIDENCE.value(1, row[1])) for row in rows]
    return evidence, (rows[0][2] if rows else 0)


# --- Who may do what with a student's progress. ------------------------------------------------------


def progress_may_manage(*, viewer: Viewer, student: Student) -> bool:
    """Record assessments and set goals: the school's staff, or a teacher the student is assigned to there."""
    if viewer.is_staff_of(student.school_id):
        return True
    if not viewer.teaches_in(student.school_id):
        return False
    return TeachingAssignment.objects.filter(
        student_id=student.pk, teacher_id=viewer.teacher_id, school_id=student.school_id
    ).exists()


@dataclass(frozen=True)
class Audience:
    """Who a progress page is built for. Pages differ only by the notes they show, so one cached page
    serves everyone of a kind: the school's staff, one teacher (staff notes of their own sessions), or
    the family (the student and their guardians, shared notes only)."""

    kind: str
    teacher_id: int | None = None

    @property
    def key(self) -> str:
        return self.kind if self.teacher_id is None else f"{self.kind}-{self.teacher_id}"

    def notes(self) -> Q:
        if self.kind == "staff":
            return Q()
        shared = Q(visibility=NoteVisibility.SHARED)
        if self.kind == "teacher":
            return shared | Q(visibility=NoteVisibility.STAFF, session__teacher_id=self.teacher_id)
        return shared


def progress_audience(*, viewer: Viewer, student: Student) -> Audience:
    """The audience of a viewer who may see the student (see ``people.selectors.student_get_for_viewer``)."""
    if viewer.is_staff_of(student.school_id):
        return Audience("staff")
    if viewer.teaches_in(student.school_id):
        return Audience("teacher", viewer.teacher_id)
    return Audience("family")


# --- The progress page. -----------------------------------------------------------------------------


def student_progress(*, viewer: Viewer, student: Student, subject_id: int | None = None) -> dict[str, Any]:
    """The student's progress page as this viewer may see it, from the cache when it is current.

    The entry carries the student's and the school's versions, which every write that changes the page
    bumps on commit, so a cached page is never older than the last committed change.
    """
    audience = progress_audience(viewer=viewer, student=student)
    return cached_versioned(
        f"progress:{student.pk}:{audience.key}:{subject_id or 'all'}",
        scopes=[student_scope(student.pk), school_scope(student.school_id)],
        build=lambda: student_progress_build(student=student, audience=audience, subject_id=subject_id),
        timeout=PROGRESS_PAGE_TIMEOUT,
    )


def _standing(row: StudentProgress | None) -> dict[str, Any]:
    if row is None:
        return {"level": Level.NOT_STARTED.value, "percentage": None, "trend": Trend.FLAT.value}
    return {"level": row.level, "percentage": decimal_text(row.percentage), "trend": row.trend}


def _attendance(*, student: Student, subject_id: int | None) -> dict[str, Any]:
    """Attendance over the student's sessions that took place or were missed (completed or no-show)."""
    rows = SessionStudent.objects.filter(
        student_id=student.pk, session__status__in=[SessionStatus.COMPLETED, SessionStatus.NO_SHOW]
    )
    if subject_id is not None:
        rows = rows.filter(session__subject_id=subject_id)
    counts = rows.aggregate(
        sessions=Count("id"),
        **{status.value: Count("id", filter=Q(attendance=status)) for status in Attendance},
    )
    recorded = sum(counts[status.value] for status in Attendance)
    attended = counts[Attendance.PRESENT.value] + counts[Attendance.LATE.value]
    rate = None if not recorded else str((Decimal(attended) / recorded).quantize(RATE_PLACES, ROUND_HALF_UP))
    return {**counts, "rate": rate}


def _notes(*, student: Student, audience: Audience, subject_id: int | None) -> list[dict[str, Any]]:
    notes = SessionNote.objects.filter(audience.notes(), session__attendees__student_id=student.pk)
    if subject_id is not None:
        notes = notes.filter(session__subject_id=subject_id)
    return [
        {
            "id": note.pk,
            "session_id": note.session_id,
            "visibility": note.visibility,
            "text": note.text,
            "author": {"id": note.author_id, "name": note.author.full_name},
            "created_at": iso(note.created_at),
        }
        for note in notes.select_related("author").order_by("-created_at", "-id")[:PAGE_NOTES]
    ]


def _history(*, student: Student, subject_id: int | None) -> dict[int, list[dict[str, Any]]]:
    """Per subject, its last ``HISTORY_POINTS`` assessments, oldest first, dated in the school's zone."""
    assessments = ProgressAssessment.objects.filter(student_id=student.pk)
    if subject_id is not None:
        assessments = assessments.filter(subject_id=subject_id)
    recency = Window(RowNumber(), partition_by=[F("subject_id")], order_by=[F("assessed_at").desc(), F("id").desc()])
    points = (
        assessments.annotate(recency=recency)
        .filter(recency__lte=HISTORY_POINTS)
        .order_by("assessed_at", "id")
        .values_list("subject_id", "assessed_at", "percentage")
    )
    zone = student.school.zone
    history: dict[int, list[dict[str, Any]]] = {}
    for point_subject, assessed_at, percentage in points:
        history.setdefault(point_subject, []).append(
            {"date": assessed_at.astimezone(zone).date().isoformat(), "percentage": decimal_text(percentage)}
        )
    return history


def student_progress_build(*, student: Student, audience: Audience, subject_id: int | None = None) -> dict[str, Any]:
    """The progress page, from the database, in a fixed number of queries (one per part)."""
    by_subject = Q() if subject_id is None else Q(subject_id=subject_id)
    rows = (
        StudentProgress.objects.filter(by_subject, student_id=student.pk)
        .select_related("subject", "skill")
        .order_by("subject_id", "skill__name", "skill_id")
    )
    goals = (
        ProgressGoal.objects.filter(by_subject, student_id=student.pk)
        .select_related("subject")
        .order_by(F("due_date").asc(nulls_last=True), "id")
    )
    subjects: dict[int, dict[str, Any]] = {}
    subject_rows: dict[int, StudentProgress] = {}

    def entry(subject: Any) -> dict[str, Any]:
        return subjects.setdefault(
            subject.pk, {"subject": {"id": subject.pk, "name": subject.name}, "goals": [], "skills": []}
        )

    for row in rows:
        if row.skill is None:
            entry(row.subject)
            subject_rows[row.subject_id] = row
        else:
            entry(row.subject)["skills"].append(
                {
                    "skill": {"id": row.skill.pk, "name": row.skill.name},
                    **_standing(row),
                    "last_assessed_at": iso(row.last_assessed_at),
                }
            )
    for goal in goals:
        entry(goal.subject)["goals"].append(
            {
                "id": goal.pk,
                "title": goal.title,
                "target_percentage": decimal_text(goal.target_percentage),
                "due_date": None if goal.due_date is None else goal.due_date.isoformat(),
                "achieved_at": iso(goal.achieved_at),
                "skill_id": goal.skill_id,
            }
        )
    history = _history(student=student, subject_id=subject_id)
    for subject_pk, subject_entry in subjects.items():
        subject_row = subject_rows.get(subject_pk)
        subject_entry.update(
            _standing(subject_row),
            last_assessed_at=None if subject_row is None else iso(subject_row.last_assessed_at),
            assessments_count=0 if subject_row is None else subject_row.assessments_count,
            history=history.get(subject_pk, []),
        )
    recent = _with_item_relations(ProgressAssessment.objects.filter(by_subject, student_id=student.pk))
    return {
        "student": {"id": student.pk, "name": student.user.full_name, "school_id": student.school_id},
        "subjects": sorted(subjects.values(), key=lambda item: (item["subject"]["name"], item["subject"]["id"])),
        "recent_assessments": [assessment_item(assessment) for assessment in recent[:RECENT_ASSESSMENTS]],
        "attendance": _attendance(student=student, subject_id=subject_id),
        "notes": _notes(student=student, audience=audience, subject_id=subject_id),
    }


# --- Goals. -----------------------------------------------------------------------------------------


def progress_require_manager(*, viewer: Viewer, student: Student) -> None:
    """403 unless the viewer may manage the student's progress (``progress_may_manage``)."""
    if not progress_may_manage(viewer=viewer, student=student):
        raise Forbidden(STUDENT_NOT_YOURS)


def goal_list_for_manager(*, viewer: Viewer, student: Student) -> QuerySet[ProgressGoal]:
    """A student's goals, for those who manage the student's progress; 403 for anyone else who sees them."""
    progress_require_manager(viewer=viewer, student=student)
    return goal_list(student=student)


def goal_get_for_manager(*, viewer: Viewer, goal_id: int) -> ProgressGoal:
    """The goal: 404 if the viewer may not see its student, 403 if they may see but not manage them."""
    goal = goal_get_for_viewer(viewer=viewer, goal_id=goal_id)
    progress_require_manager(viewer=viewer, student=goal.student)
    return goal


def goal_list(*, student: Student) -> QuerySet[ProgressGoal]:
    """A student's goals, unchecked: for ``goal_list_for_manager`` and the progress page (whose viewer may
    read them)."""
    return (
        ProgressGoal.objects.filter(student_id=student.pk)
        .select_related("subject", "skill")
        .order_by(F("due_date").asc(nulls_last=True), "id")
    )


def goal_get_for_viewer(*, viewer: Viewer, goal_id: int) -> ProgressGoal:
    """The goal, if the viewer may see its student; otherwise 404, the same as for an unknown id."""
    visible_students = Student.objects.filter(student_visibility(viewer)).values("pk")
    goal = (
        ProgressGoal.objects.filter(pk=goal_id, student_id__in=visible_students)
        .select_related("student__school", "student__user", "subject", "skill")
        .first()
    )
    if goal is None:
        raise NotFound()
    return goal
