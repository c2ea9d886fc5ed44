from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

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
