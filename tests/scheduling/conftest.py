from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from chalkboard.scheduling.models import Session
from tests.conftest import SchoolWorld, client_for

# Every role the permission tests walk through: the roles of ``world``, a member of another school
# (``other_world``'s owner, its most powerful user) and nobody at all.
ROLES = (
    "owner",
    "admin",
    "teacher",
    "other_teacher",
    "student",
    "other_student",
    "guardian",
    "other_guardian",
    "outsider",
    "anonymous",
)


@pytest.fixture
def client_as(world: SchoolWorld, other_world: SchoolWorld) -> Callable[[str], APIClient]:
    def make(role: str) -> APIClient:
        if role == "anonymous":
            return client_for(None)
        if role == "outsider":
            return client_for(other_world.owner)
        return client_for(world.user(role))

    return make


def session_url(session_id: int) -> str:
    return f"/api/sessions/{session_id}/"


def cancel_url(session_id: int) -> str:
    return f"/api/sessions/{session_id}/cancel/"


LIST_URL = "/api/sessions/"


# Who may reschedule or cancel world.session: staff and its teacher; those who only see it get 403.
MANAGE_STATUS = {
    "owner": 200,
    "admin": 200,
    "teacher": 200,
    "other_teacher": 404,
    "student": 403,
    "other_student": 404,
    "guardian": 403,
    "other_guardian": 404,
    "outsider": 404,
    "anonymous": 401,
}


def stored(session: Session) -> dict[str, object]:
    """What the database holds for ``session`` now, re-read: to show a refused write changed none of it."""
    row = Session.objects.get(pk=session.pk)
    return {
        "status": row.status,
        "version": row.version,
        "starts_at": row.starts_at,
        "planned_duration_minutes": row.planned_duration_minutes,
        "location": row.location,
        "subject_id": row.subject_id,
        "teacher_id": row.teacher_id,
        "student_ids": sorted(row.attendees.values_list("student_id", flat=True)),
    }


def finish(session: Session, status: str) -> None:
    """Put ``session`` in a final state, as completion or cancellation would."""
    session.status = status
    if status in ("completed", "no_show"):
        session.completed_at = session.starts_at + timedelta(hours=1)
    if status == "completed":
        session.actual_duration_minutes = 60
    session.save()
