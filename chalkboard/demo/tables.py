"""The tables the demo writes, as plain rows: each table's columns, a batch of rows, and id allocation.

Rows are tuples in the table's column order. The generator gives every row its id up front (from the
highest id already in the table), so rows can refer to each other before anything reaches the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from django.db import models

from chalkboard.accounts.models import User
from chalkboard.activity.models import ActivityLog
from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.people.models import GuardianLink, SchoolTeacher, Student, Teacher, TeacherRate, TeachingAssignment
from chalkboard.progress.models import ProgressAssessment, ProgressGoal, StudentProgress
from chalkboard.scheduling.models import Session, SessionNote, SessionStudent
from chalkboard.schools.models import Membership, School, Skill, Subject

Row = tuple[Any, ...]
STAMPS = ("created_at", "updated_at")


@dataclass(frozen=True, eq=False)
class Table:
    model: type[models.Model]
    columns: tuple[str, ...]
    _pick: itemgetter[Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pick", itemgetter(*self.columns))

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def has_id(self) -> bool:
        return "id" in self.columns

    def row(self, values: Mapping[str, Any]) -> Row:
        """The values in column order; every column must be given, and nothing else."""
        if len(values) == len(self.columns):
            try:
                return self._pick(values)
            except KeyError:
                pass
        mismatch = sorted(set(values) ^ set(self.columns))
        raise ValueError(f"{self.name}: columns do not match ({', '.join(mismatch)}).")


USER = Table(User, ("id", "password", "last_login", "email", "full_name", "is_active", "is_staff", "date_joined"))
SCHOOL = Table(
    School,
    (
        "id",
        "name",
        "timezone",
        "currency",
        "no_show_billable",
        "late_claim_days",
        "overrun_minutes",
        "paid_amend_days",
        *STAMPS,
    ),
)
MEMBERSHIP = Table(Membership, ("id", "user_id", "school_id", "role", "is_active", *STAMPS))
SUBJECT = Table(Subject, ("id", "school_id", "name", *STAMPS))
SKILL = Table(Skill, ("id", "subject_id", "name"))
TEACHER = Table(Teacher, ("user_id", *STAMPS))
SCHOOL_TEACHER = Table(SchoolTeacher, ("id", "teacher_id", "school_id", "bio", *STAMPS))
TEACHER_SUBJECT = Table(Teacher.subjects.through, ("id", "teacher_id", "subject_id"))
TEACHER_RATE = Table(TeacherRate, ("id", "teacher_id", "school_id", "subject_id", "is_group", "hourly_rate", *STAMPS))
STUDENT = Table(Student, ("id", "school_id", "user_id", "grade", "notes", "is_active", *STAMPS))
GUARDIAN_LINK = Table(GuardianLink, ("id", "guardian_id", "student_id", "relationship", *STAMPS))
TEACHING_ASSIGNMENT = Table(
    TeachingAssignment, ("id", "school_id", "teacher_id", "student_id", "assigned_by_id", *STAMPS)
)
SESSION = Table(
    Session,
    (
        "id",
        "school_id",
        "teacher_id",
        "subject_id",
        "starts_at",
        "planned_duration_minutes",
        "status",
        "location",
        "completed_at",
        "completed_by_id",
        "actual_duration_minutes",
        "cancelled_at",
        "cancellation_reason",
        "version",
        *STAMPS,
    ),
)
SESSION_STUDENT = Table(SessionStudent, ("id", "session_id", "student_id", "attendance"))
SESSION_NOTE = Table(SessionNote, ("id", "session_id", "author_id", "visibility", "text", *STAMPS))
PAYOUT = Table(
    Payout, ("id", "school_id", "teacher_id", "amount", "currency", "paid_at", "reference", "created_by_id", *STAMPS)
)
EARNING_ENTRY = Table(
    EarningEntry,
    (
        "id",
        "school_id",
        "teacher_id",
        "session_id",
        "kind",
        "status",
        "amount",
        "currency",
        "minutes",
        "hourly_rate",
        "earned_at",
        "description",
        "hold_reason",
        "approved_at",
        "approved_by_id",
        "payout_id",
        "adjusts_id",
        *STAMPS,
    ),
)
ASSESSMENT = Table(
    ProgressAssessment,
    (
        "id",
        "school_id",
        "student_id",
        "subject_id",
        "skill_id",
        "teacher_id",
        "session_id",
        "kind",
        "score",
        "max_score",
        "percentage",
        "assessed_at",
        "comments",
        *STAMPS,
    ),
)
PROGRESS = Table(
    StudentProgress,
    (
        "id",
        "student_id",
        "subject_id",
        "skill_id",
        "level",
        "percentage",
        "trend",
        "assessments_count",
        "last_assessed_at",
        *STAMPS,
    ),
)
GOAL = Table(
    ProgressGoal,
    (
        "id",
        "student_id",
        "subject_id",
        "skill_id",
        "title",
        "target_percentage",
        "due_date",
        "achieved_at",
        "created_by_id",
        *STAMPS,
    ),
)
ACTIVITY = Table(
    ActivityLog,
    ("id", "school_id", "actor_id", "teacher_id", "verb", "object_type", "object_id", "data", "created_at"),
)

# Parents before children: the order every batch is written in.
LOAD_ORDER: tuple[Table, ...] = (
    USER,
    SCHOOL,
    MEMBERSHIP,
    SUBJECT,
    SKILL,
    TEACHER,
    SCHOOL_TEACHER,
    TEACHER_SUBJECT,
    TEACHER_RATE,
    STUDENT,
    GUARDIAN_LINK,
    TEACHING_ASSIGNMENT,
    SESSION,
    SESSION_STUDENT,
    SESSION_NOTE,
    PAYOUT,
    EARNING_ENTRY,
    ASSESSMENT,
    PROGRESS,
    GOAL,
    ACTIVITY,
)


class Batch:
    """Rows for several tables, written together in ``LOAD_ORDER``."""

    def __init__(self) -> None:
        self.rows: dict[Table, list[Row]] = {}

    def add(self, table: Table, **values: Any) -> None:
        self.rows.setdefault(table, []).append(table.row(values))

    def tables(self) -> Iterator[tuple[Table, list[Row]]]:
        for table in LOAD_ORDER:
            if self.rows.get(table):
                yield table, self.rows[table]


class Ids:
    """Hands out ids per table, after the highest one each table already holds."""

    def __init__(self, last: Mapping[Table, int] | None = None) -> None:
        self._last: dict[Table, int] = dict(last or {})

    def next(self, table: Table) -> int:
        value = self._last.get(table, 0) + 1
        self._last[table] = value
        return value
