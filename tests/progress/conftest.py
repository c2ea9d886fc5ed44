from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from chalkboard.accounts.models import User
from chalkboard.people.models import Student, Teacher
from chalkboard.progress.models import ProgressAssessment
from chalkboard.progress.services import assessment_create
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Role, Subject
from tests import factories as f
from tests.conftest import SchoolWorld

ROLES = ["owner", "admin", "teacher", "other_teacher", "student", "other_student", "guardian", "other_guardian"]


def viewer(user: User) -> Viewer:
    return Viewer.for_user(user)


def record(by: User, *, student: Student, subject: Subject, score: str = "8", max_score: str = "10", **extra: Any):
    """An assessment recorded through the service, progress and all."""
    return assessment_create(
        viewer=viewer(by),
        student_id=student.pk,
        subject_id=subject.pk,
        kind=extra.pop("kind", "quiz"),
        score=Decimal(score),
        max_score=Decimal(max_score),
        **extra,
    )


def stored(
    student: Student,
    subject: Subject,
    teacher: Teacher,
    *,
    percentage: str = "80.00",
    assessed_at: datetime | None = None,
    **extra: Any,
) -> ProgressAssessment:
    """An assessment row as it is stored, without going through the service (no progress update)."""
    return ProgressAssessment.objects.create(
        school=student.school,
        student=student,
        subject=subject,
        teacher=teacher,
        kind="test",
        score=Decimal(percentage),
        max_score=Decimal(100),
        percentage=Decimal(percentage),
        assessed_at=assessed_at or timezone.now() - timedelta(days=1),
        **extra,
    )


def user_for(world: SchoolWorld, other_world: SchoolWorld, role: str) -> User | None:
    """Any role of ``world``, ``other_world`` (its owner and its teacher) or ``anonymous``."""
    if role == "anonymous":
        return None
    if role == "other_world_owner":
        return other_world.owner
    if role == "other_world_teacher":
        return other_world.teacher.user
    return world.user(role)


@pytest.fixture
def subject(world: SchoolWorld) -> Subject:
    return world.session.subject


@pytest.fixture
def owner_who_teaches(world: SchoolWorld) -> User:
    """The owner also teaches the student (a common case)."""
    f.teacher_in(world.school, user=world.owner)
    f.session_for(world.owner.teacher, world.student, subject=world.session.subject)
    assert world.owner.memberships.filter(role=Role.TEACHER).exists()
    return world.owner
