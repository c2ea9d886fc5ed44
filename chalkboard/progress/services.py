"""Writes of assessments and goals. Each keeps the student's progress current in its own transaction."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypedDict

from django.db import connection, transaction
from django.utils import timezone

from chalkboard.activity.services import activity_record
from chalkboard.common.api import MAX_ID
from chalkboard.common.errors import Forbidden, ValidationFailed
from chalkboard.common.rows import Columns, rows_read
from chalkboard.people.models import Student, Teacher
from chalkboard.people.selectors import student_reached, teacher_self
from chalkboard.progress.models import AssessmentKind, ProgressAssessment, ProgressGoal, StudentProgress
from chalkboard.progress.scoring import assessment_percentage, standing_for
from chalkboard.progress.selectors import (
    STUDENT_NOT_YOURS,
    assessment_item,
    decimal_text,
    progress_require_manager,
    scope_evidence,
)
from chalkboard.realtime.models import EventType
from chalkboard.realtime.services import EventDraft, event_emit, events_emit
from chalkboard.scheduling.models import Session, SessionStudent
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Role, Skill, Subject

MAX_SCORE = Decimal("999999.99")
MAX_COMMENTS = 5_000
MAX_TITLE = 200
# A device clock a little ahead of ours still records "now"; anything later is in the future.
CLOCK_SKEW = timedelta(minutes=1)

STUDENT_UNKNOWN = "No such student."
KIND_UNKNOWN = "Unknown kind of assessment."
MAX_SCORE_NOT_POSITIVE = "The maximum score must be greater than 0."
SCORE_TOO_LARGE = "Scores cannot exceed 999999.99."
SCORE_OUT_OF_RANGE = "The score must be between 0 and the maximum score."
NOT_IN_FUTURE = "This cannot be in the future."
COMMENTS_TOO_LONG = "Comments are limited to 5000 characters."
SUBJECT_UNKNOWN = "No such subject in the student's school."
SKILL_UNKNOWN = "No such skill in the student's school."
SKILL_NOT_OF_SUBJECT = "This skill belongs to another subject."
SESSION_UNKNOWN = "No such session in the student's school."
SESSION_WITHOUT_STUDENT = "The student does not attend this session."
TEACHER_REQUIRED = "Name the teacher of the school who made this assessment."
TEACHER_UNKNOWN = "No such teacher in the student's school."
TEACHER_ONLY_SELF = "A teacher records assessments in their own name."
TARGET_OUT_OF_RANGE = "The target must be more than 0 and at most 100."
TITLE_INVALID = "A title of 1 to 200 characters is required."


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


# --- Assessments. -----------------------------------------------------------------------------------


def _student_to_assess(*, viewer: Viewer, student_id: int) -> Student:
    """The student, if the viewer may assess them. Invisible and unknown alike: 400 on ``student_id``."""
    reached = student_reached(viewer=viewer, student_id=student_id)
    if reached is None:
        raise _invalid("student_id", STUDENT_UNKNOWN)
    student = reached.student
    if viewer.is_staff_of(student.school_id) or (viewer.teaches_in(student.school_id) and reached.assigned):
        return student
    raise Forbidden(STUDENT_NOT_YOURS)


def _check_scores(*, kind: str, score: Decimal, max_score: Decimal, assessed_at: datetime, comments: str) -> None:
    if kind not in AssessmentKind.values:
        raise _invalid("kind", KIND_UNKNOWN)
    if max_score <= 0:
        raise _invalid("max_score", MAX_SCORE_NOT_POSITIVE)
    if max_score > MAX_SCORE:
        raise _invalid("max_score", SCORE_TOO_LARGE)
    if not 0 <= score <= max_score:
        raise _invalid("score", SCORE_OUT_OF_RANGE)
    if assessed_at > timezone.now() + CLOCK_SKEW:
        raise _invalid("assessed_at", NOT_IN_FUTURE)
    if len(comments) > MAX_COMMENTS:
        raise _invalid("comments", COMMENTS_TOO_LONG)


# An assessment's reads of one row each, written in SQL: the ORM took longer to build each statement than
# PostgreSQL to run it (the subject 0.8 ms in-process, 0.2 ms so; the progress row likewise).
SUBJECT = Columns(Subject, "subject")
SUBJECT_SQL = f"SELECT {SUBJECT.sql} FROM schools_subject AS subject WHERE subject.id = %s AND subject.school_id = %s"  # noqa: S608 (quoted model metadata)  # nosec B608
PROGRESS = Columns(StudentProgress, "progress")
PROGRESS_SQL = f"""
SELECT {PROGRESS.sql} FROM progress_studentprogress AS progress
WHERE progress.student_id = %s AND progress.subject_id = %s AND {{skill}}
"""  # noqa: S608 (quoted model metadata)  # nosec B608


def _subject_and_skill(*, student: Student, subject_id: int, skill_id: int | None) -> tuple[Subject, Skill | None]:
    """The subject and skill, which must belong to the student's school (and the skill to the subject)."""
    rows = rows_read([(SUBJECT_SQL, [subject_id, student.school_id])])[0] if 0 < subject_id <= MAX_ID else []
    if not rows:
        raise _invalid("subject_id", SUBJECT_UNKNOWN)
    subject = SUBJECT.build(rows[0])
    if skill_id is None:
        return subject, None
    skill = Skill.objects.filter(pk=skill_id, subject__school_id=student.school_id).first()
    if skill is None:
        raise _invalid("skill_id", SKILL_UNKNOWN)
    if skill.subject_id != subject.pk:
        raise _invalid("skill_id", SKILL_NOT_OF_SUBJECT)
    return subject, skill


def _session_of(*, viewer: Viewer, student: Student, session_id: int | None) -> Session | None:
    """A session of the student's school that includes the student; a teacher may name only their own."""
    if session_id is None:
        return None
    sessions = Session.objects.filter(pk=session_id, school_id=student.school_id)
    if not viewer.is_staff_of(student.school_id):
        sessions = sessions.filter(teacher_id=viewer.teacher_id)
    session = sessions.select_related("teacher__user").first()
    if session is None:
        raise _invalid("session_id", SESSION_UNKNOWN)
    if not SessionStudent.objects.filter(session_id=session.pk, student_id=student.pk).exists():
        raise _invalid("session_id", SESSION_WITHOUT_STUDENT)
    return session


def _school_teacher(*, school_id: int, teacher_id: int) -> Teacher | None:
    return (
        Teacher.objects.filter(
            pk=teacher_id,
            user__is_active=True,
            user__memberships__school_id=school_id,
            user__memberships__role=Role.TEACHER,
            user__memberships__is_active=True,
        )
        .select_related("user")
        .first()
    )


def _assessing_teacher(*, viewer: Viewer, student: Student, teacher_id: int | None, session: Session | None) -> Teacher:
    """Who made the assessment. A teacher: themself. Staff: ``teacher_id``, else the session's teacher,
    else themself when they also teach in the school."""
    school_id = student.school_id
    if not viewer.is_staff_of(school_id):
        if teacher_id is not None and teacher_id != viewer.teacher_id:
            raise Forbidden(TEACHER_ONLY_SELF, fields={"teacher_id": [TEACHER_ONLY_SELF]})
        return teacher_self(viewer=viewer)  # they teach the student there (``_student_to_assess``)
    if teacher_id is None and session is not None:
        return session.teacher
    if teacher_id is None and viewer.teaches_in(school_id):
        teacher_id = viewer.teacher_id
    elif teacher_id is None:
        raise _invalid("teacher_id", TEACHER_REQUIRED)
    teacher = _school_teacher(school_id=school_id, teacher_id=teacher_id)
    if teacher is None:
        raise _invalid("teacher_id", TEACHER_UNKNOWN)
    return teacher


def _progress_locked(*, student: Student, subject: Subject, skill: Skill | None) -> StudentProgress:
    """The scope's progress row, created if need be, locked until the transaction ends: concurrent
    assessments of one scope recompute one after the other, each seeing the other's evidence."""
    skill_sql = "progress.skill_id IS NULL" if skill is None else "progress.skill_id = %s"
    params = [student.pk, subject.pk] if skill is None else [student.pk, subject.pk, skill.pk]
    # SQLite has no FOR UPDATE (the ORM's select_for_update leaves it out there too): its writers take the
    # database one at a time.
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    (rows,) = rows_read([(PROGRESS_SQL.format(skill=skill_sql) + lock, params)])
    if rows:
        return PROGRESS.build(rows[0])
    # The scope's first assessment (or a concurrent first one, which get_or_create waits for).
    progress, _ = StudentProgress.objects.select_for_update().get_or_create(
        student=student, subject=subject, skill=skill
    )
    return progress


def _progress_refresh(progress: StudentProgress, *, now: datetime) -> StudentProgress:
    """Recompute a scope from its latest evidence (one indexed query), never from all of its history."""
    evidence, total = scope_evidence(
        student_id=progress.student_id, subject_id=progress.subject_id, skill_id=progress.skill_id
    )
    standing = standing_for(evidence, now=now)
    progress.level = standing.level
    progress.percentage = standing.percentage
    progress.trend = standing.trend
    progress.last_assessed_at = standing.last_assessed_at
    progress.assessments_count = total
    progress.save(update_fields=["level", "percentage", "trend", "last_assessed_at", "assessments_count", "updated_at"])
    return progress


@transaction.atomic
def assessment_create(
    *,
    viewer: Viewer,
    student_id: int,
    subject_id: int,
    kind: str,
    score: Decimal,
    max_score: Decimal,
    skill_id: int | None = None,
    teacher_id: int | None = None,
    session_id: int | None = None,
    assessed_at: datetime | None = None,
    comments: str = "",
) -> ProgressAssessment:
    """Record an assessment and, in the same transaction, the student's progress in the subject (and the
    skill). Staff of the student's school, or a teacher who teaches the student there, may do it."""
    student = _student_to_assess(viewer=viewer, student_id=student_id)
    assessed_at = assessed_at or timezone.now()
    _check_scores(kind=kind, score=score, max_score=max_score, assessed_at=assessed_at, comments=comments)
    subject, skill = _subject_and_skill(student=student, subject_id=subject_id, skill_id=skill_id)
    session = _session_of(viewer=viewer, student=student, session_id=session_id)
    teacher = _assessing_teacher(viewer=viewer, student=student, teacher_id=teacher_id, session=session)

    scopes = [None] if skill is None else [None, skill]
    locked = [_progress_locked(student=student, subject=subject, skill=scope) for scope in scopes]
    assessment = ProgressAssessment.objects.create(
        school_id=student.school_id,
        student=student,
        subject=subject,
        skill=skill,
        teacher=teacher,
        session=session,
        kind=kind,
        score=score,
        max_score=max_score,
        percentage=assessment_percentage(score=score, max_score=max_score),
        assessed_at=assessed_at,
        comments=comments,
    )
    now = timezone.now()
    updated = [_progress_refresh(progress, now=now) for progress in locked]

    item = assessment_item(assessment)
    activity_record(
        actor=viewer.user,
        verb="assessment.created",
        object_type="assessment",
        object_id=assessment.pk,
        school_id=student.school_id,
        teacher_id=teacher.pk,
        data={"student_id": student.pk, "subject_id": subject.pk, "percentage": item["percentage"]},
    )
    # Every teacher of the student shows their standing on the dashboard: each hears the change, and each
    # one's dashboard is rebuilt (an event bumps its teacher's cache version).
    concerned = [teacher.pk, *(other for other in _teachers_of(student) if other != teacher.pk)]
    drafts = [
        EventDraft(EventType.ASSESSMENT_CREATED, student.school_id, teacher.pk, {"assessment": item}, [student.pk])
    ]
    for progress in updated:
        data = {
            "student_id": student.pk,
            "subject_id": progress.subject_id,
            "skill_id": progress.skill_id,
            "level": progress.level,
            "percentage": decimal_text(progress.percentage),
            "trend": progress.trend,
        }
        drafts.extend(
            EventDraft(EventType.PROGRESS_UPDATED, student.school_id, teacher_id, data, [student.pk])
            for teacher_id in concerned
        )
    events_emit(drafts)
    return assessment


# The teachers with a session with the student in the student's school (the teachers who see them), read
# from the bookings' copy of their session's teacher and school (decision 7), without joining the sessions:
# for the bench's busiest student (657 bookings), 2.5 ms of execution instead of 8.3. Written in SQL: the
# ORM's statement cost more to build than this one costs to run (0.8 ms in all against 0.3).
TEACHERS_OF_SQL = """
SELECT DISTINCT session_teacher_id FROM scheduling_sessionstudent
WHERE student_id = %s AND session_school_id = %s
ORDER BY session_teacher_id
"""


def _teachers_of(student: Student) -> list[int]:
    (rows,) = rows_read([(TEACHERS_OF_SQL, [student.pk, student.school_id])])
    return [teacher_id for (teacher_id,) in rows]


# --- Goals. -----------------------------------------------------------------------------------------


class GoalFields(TypedDict, total=False):
    """What a goal write may set. On update, only the keys present change."""

    subject_id: int
    skill_id: int | None
    title: str
    target_percentage: Decimal
    due_date: date | None
    achieved_at: datetime | None


def _check_goal(goal: ProgressGoal) -> None:
    """The goal as it will be saved: a valid target and title, a subject and skill of the student's school."""
    title = goal.title.strip()
    if not title or len(title) > MAX_TITLE:
        raise _invalid("title", TITLE_INVALID)
    goal.title = title
    if not 0 < goal.target_percentage <= 100:
        raise _invalid("target_percentage", TARGET_OUT_OF_RANGE)
    if goal.achieved_at is not None and goal.achieved_at > timezone.now() + CLOCK_SKEW:
        raise _invalid("achieved_at", NOT_IN_FUTURE)
    goal.subject, goal.skill = _subject_and_skill(
        student=goal.student, subject_id=goal.subject_id, skill_id=goal.skill_id
    )


def _goal_changed(*, viewer: Viewer, goal: ProgressGoal, goal_id: int, verb: str) -> None:
    """Audit the write and tell the student's pages (and the teacher's, when a teacher made it)."""
    student = goal.student
    teacher_id = viewer.teacher_id if viewer.teaches_in(student.school_id) else None
    activity_record(
        actor=viewer.user,
        verb=verb,
        object_type="goal",
        object_id=goal_id,
        school_id=student.school_id,
        teacher_id=teacher_id,
        data={"student_id": student.pk, "subject_id": goal.subject_id, "title": goal.title},
    )
    event_emit(
        type=EventType.PROGRESS_UPDATED,
        school_id=student.school_id,
        teacher_id=teacher_id,
        data={"student_id": student.pk, "subject_id": goal.subject_id, "goal_id": goal_id},
        student_ids=[student.pk],
    )


@transaction.atomic
def goal_create(*, viewer: Viewer, student: Student, fields: GoalFields) -> ProgressGoal:
    """Set a goal for a student the viewer may manage (``subject_id``, ``title`` and ``target_percentage``
    are required)."""
    progress_require_manager(viewer=viewer, student=student)
    goal = ProgressGoal(
        student=student,
        subject_id=fields["subject_id"],
        skill_id=fields.get("skill_id"),
        title=fields["title"],
        target_percentage=fields["target_percentage"],
        due_date=fields.get("due_date"),
        achieved_at=fields.get("achieved_at"),
        created_by=viewer.user,
    )
    _check_goal(goal)
    goal.save()
    _goal_changed(viewer=viewer, goal=goal, goal_id=goal.pk, verb="goal.created")
    return goal


@transaction.atomic
def goal_update(*, viewer: Viewer, goal: ProgressGoal, fields: GoalFields) -> ProgressGoal:
    """Change some of a goal's fields. Changing the subject without the skill keeps the skill, which must
    then belong to the new subject."""
    progress_require_manager(viewer=viewer, student=goal.student)
    goal = ProgressGoal.objects.select_for_update().select_related("student__school").get(pk=goal.pk)
    for name, value in fields.items():
        setattr(goal, name, value)
    _check_goal(goal)
    goal.save(update_fields=[*fields.keys(), "updated_at"])
    _goal_changed(viewer=viewer, goal=goal, goal_id=goal.pk, verb="goal.updated")
    return goal


@transaction.atomic
def goal_delete(*, viewer: Viewer, goal: ProgressGoal) -> None:
    progress_require_manager(viewer=viewer, student=goal.student)
    goal_id = goal.pk
    goal.delete()
    _goal_changed(viewer=viewer, goal=goal, goal_id=goal_id, verb="goal.deleted")
