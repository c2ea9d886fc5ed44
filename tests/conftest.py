from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from chalkboard.accounts.models import User
from chalkboard.accounts.services import token_create
from chalkboard.people.models import Student, Teacher
from chalkboard.scheduling.models import Session
from chalkboard.schools.models import Role, School
from tests import factories as f

# Where every test's clock starts. CI runs the suite again with CHALKBOARD_TEST_NOW moved far ahead and onto
# awkward instants (a month's last evening, the nights clocks change): a test must pass on any of them.
DEFAULT_TEST_NOW = "2026-11-27T10:00:00+00:00"


def test_clock_start() -> datetime:
    moment = datetime.fromisoformat(os.environ.get("CHALKBOARD_TEST_NOW") or DEFAULT_TEST_NOW)
    if moment.tzinfo is None:
        raise ValueError("CHALKBOARD_TEST_NOW needs a UTC offset, e.g. 2031-01-31T23:10:00+00:00")
    return moment


test_clock_start.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def clock(request: pytest.FixtureRequest) -> Iterator[time_machine.Traveller | None]:
    """Every test runs on a clock of its own, never the machine's: it starts at ``test_clock_start()`` and
    ticks. Because it is autouse and comes first, fixtures and factories that take "now" (a session booked
    for tomorrow, a token's expiry) take it from this clock too. A module that needs another instant
    overrides ``clock``; its override then runs first in the same way.

    Tests marked ``wall_clock`` keep the machine's clock: they start server processes, which read it."""
    if request.node.get_closest_marker("wall_clock"):
        yield None
        return
    with time_machine.travel(test_clock_start(), tick=True) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _redis_breakers_closed() -> None:
    """A Redis call that timed out in one test (a loaded machine) must not leave the next one without Redis."""
    from chalkboard.common.breaker import breakers_reset

    breakers_reset()


@pytest.fixture(autouse=True)
def _cache_bumps_follow_the_test_transaction(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tests run inside one transaction that never commits, so on-commit work never runs. Cache
    versions are bumped at once there, as a commit would; tests marked ``django_db(transaction=True)``
    keep the real on-commit behaviour (and test it)."""
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (len(marker.args) > 0 and marker.args[0])):
        return
    from types import SimpleNamespace

    from chalkboard.common import cache as versioned
    from chalkboard.realtime import services as events

    monkeypatch.setattr(versioned, "transaction", SimpleNamespace(on_commit=lambda func, **kwargs: func()))
    # An event's bumps wait for its transaction's commit, with its nudge: here they happen at once instead,
    # and only the nudge is left for a commit (which tests of nudges make happen).
    recorded = events._OnCommit.add

    def add_and_bump(self, event, scopes):
        recorded(self, event, ())
        versioned.versions_bump(scopes)

    monkeypatch.setattr(events._OnCommit, "add", add_and_bump)


@pytest.fixture(autouse=True)
def _needs_backends(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    if request.node.get_closest_marker("redis") and not os.environ.get("REDIS_URL"):
        pytest.skip("needs Redis (REDIS_URL)")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def client_for(user: User | None) -> APIClient:
    """An API client logged in as ``user`` with a real bearer token (anonymous for ``None``)."""
    client = APIClient()
    if user is not None:
        token, _ = token_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def as_user() -> Callable[[User | None], APIClient]:
    return client_for


@dataclass
class SchoolWorld:
    """One school with every role, sessions and notes: the fixture the permission tests are built on."""

    school: School
    owner: User
    admin: User
    teacher: Teacher
    other_teacher: Teacher
    student: Student
    other_student: Student
    guardian: User
    other_guardian: User
    session: Session
    other_session: Session

    def user(self, role: str) -> User:
        return {
            "owner": self.owner,
            "admin": self.admin,
            "teacher": self.teacher.user,
            "other_teacher": self.other_teacher.user,
            "student": self.student.user,
            "other_student": self.other_student.user,
            "guardian": self.guardian,
            "other_guardian": self.other_guardian,
        }[role]


def build_world(**school_fields: Any) -> SchoolWorld:
    school = f.SchoolFactory(**school_fields)
    teacher = f.teacher_in(school)
    other_teacher = f.teacher_in(school)
    student = f.student_in(school)
    other_student = f.student_in(school)
    subject = f.SubjectFactory(school=school)
    session = f.session_for(teacher, student, subject=subject)
    other_session = f.session_for(other_teacher, other_student, subject=subject)
    for visibility in ("shared", "staff", "admin"):
        f.note_on(session, author=teacher.user, visibility=visibility, text=f"{visibility} note")
    return SchoolWorld(
        school=school,
        owner=f.member(school=school, role=Role.OWNER),
        admin=f.member(school=school, role=Role.ADMIN),
        teacher=teacher,
        other_teacher=other_teacher,
        student=student,
        other_student=other_student,
        guardian=f.guardian_of(student),
        other_guardian=f.guardian_of(other_student),
        session=session,
        other_session=other_session,
    )


@pytest.fixture
def world(db: None) -> SchoolWorld:
    return build_world(name="Lisbon Tutors", timezone="Europe/Lisbon")


@pytest.fixture
def other_world(db: None) -> SchoolWorld:
    """A second school whose data must stay invisible to everyone in ``world``."""
    return build_world(name="Tokyo Tutors", timezone="Asia/Tokyo", currency="JPY")
