from __future__ import annotations

import pytest

from chalkboard.scheduling.serializers import SessionDetailOutput
from chalkboard.schools.models import Role
from tests import factories as f
from tests.conftest import client_for
from tests.scheduling.conftest import ROLES, session_url

pytestmark = pytest.mark.django_db

RETRIEVE_STATUS = {
    "owner": 200,
    "admin": 200,
    "teacher": 200,
    "other_teacher": 404,
    "student": 200,
    "other_student": 404,
    "guardian": 200,
    "other_guardian": 404,
    "outsider": 404,
    "anonymous": 401,
}

# The notes of ``world.session`` (one of each level) each role reads.
NOTES_SEEN = {
    "owner": ["shared", "staff", "admin"],
    "admin": ["shared", "staff", "admin"],
    "teacher": ["shared", "staff"],
    "student": ["shared"],
    "guardian": ["shared"],
}


@pytest.mark.parametrize("role", ROLES)
def test_who_may_read_a_session(world, client_as, role):
    response = client_as(role).get(session_url(world.session.pk))

    assert response.status_code == RETRIEVE_STATUS[role]
    if response.status_code == 200:
        assert response.json()["id"] == world.session.pk


def test_a_session_of_another_school_answers_like_one_that_does_not_exist(world, other_world, client_as):
    client = client_as("owner")

    hidden = client.get(session_url(other_world.session.pk))
    missing = client.get(session_url(10**9))
    huge = client.get(session_url(10**30))

    assert hidden.status_code == missing.status_code == huge.status_code == 404
    assert (
        hidden.json() == missing.json() == huge.json() == {"status": 404, "code": "not_found", "message": "Not found."}
    )


@pytest.mark.parametrize("role", NOTES_SEEN)
def test_each_role_reads_only_the_notes_it_may(world, client_as, role):
    notes = client_as(role).get(session_url(world.session.pk)).json()["notes"]

    assert [note["visibility"] for note in notes] == NOTES_SEEN[role]
    assert [note["text"] for note in notes] == [f"{level} note" for level in NOTES_SEEN[role]]


def test_a_teacher_who_is_also_a_guardian_still_reads_no_staff_notes_of_anothers_session(world):
    # other_teacher is the guardian of world.student: they see world.session as a guardian, not as its teacher.
    f.guardian_of(world.student, user=world.other_teacher.user)

    notes = client_for(world.other_teacher.user).get(session_url(world.session.pk)).json()["notes"]

    assert [note["visibility"] for note in notes] == ["shared"]


def test_an_owner_who_teaches_reads_admin_notes_of_any_session(world):
    f.member(school=world.school, role=Role.OWNER, user=world.other_teacher.user)

    notes = client_for(world.other_teacher.user).get(session_url(world.session.pk)).json()["notes"]

    assert [note["visibility"] for note in notes] == ["shared", "staff", "admin"]


def test_the_detail_has_the_documented_shape(world, client_as):
    body = client_as("owner").get(session_url(world.session.pk)).json()

    note = body["notes"][0]
    shared = world.session.notes.get(visibility="shared")
    assert note == {
        "id": shared.pk,
        "visibility": "shared",
        "text": "shared note",
        "author": {"id": world.teacher.pk, "name": world.teacher.user.full_name},
        "created_at": shared.created_at.isoformat().replace("+00:00", "Z"),
    }
    documented = SessionDetailOutput(data=body)
    assert documented.is_valid(), documented.errors
    assert set(body) == set(SessionDetailOutput().fields)


# The token with its user, the viewer's memberships, the session, its students, its notes; students and
# guardians add one query for their own or their children's student ids.
DETAIL_QUERIES = {"owner": 5, "teacher": 5, "student": 6, "guardian": 6}


@pytest.mark.parametrize("role", DETAIL_QUERIES)
@pytest.mark.parametrize("extra", [1, 8])
def test_reading_a_session_costs_a_fixed_number_of_queries(world, client_as, django_assert_num_queries, role, extra):
    for _ in range(extra):
        f.note_on(world.session, author=f.UserFactory(), visibility="shared")
        world.session.attendees.create(student=f.student_in(world.school))
    client = client_as(role)

    with django_assert_num_queries(DETAIL_QUERIES[role]):
        response = client.get(session_url(world.session.pk))

    assert len(response.json()["notes"]) >= extra + 1
    assert len(response.json()["students"]) == extra + 1


@pytest.mark.parametrize("method", ["delete", "put"])
def test_sessions_cannot_be_deleted_or_replaced(world, client_as, method):
    response = getattr(client_as("owner"), method)(session_url(world.session.pk))

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert world.session.__class__.objects.filter(pk=world.session.pk).exists()


def test_delete_without_a_token_is_401(world, client_as):
    response = client_as("anonymous").delete(session_url(world.session.pk))

    assert response.status_code == 401
    assert world.session.__class__.objects.filter(pk=world.session.pk, status="scheduled").exists()
