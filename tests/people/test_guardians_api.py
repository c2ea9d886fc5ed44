from __future__ import annotations

import itertools

import pytest
from django.core.cache import cache

from chalkboard.accounts.models import User
from chalkboard.activity.models import ActivityLog
from chalkboard.invitations.models import Invitation
from chalkboard.people.models import GuardianLink
from chalkboard.schools.models import Membership, Role
from tests import factories as f
from tests.conftest import client_for
from tests.schools.helpers import AUTH_QUERIES, ROLES, accept_invitation, ids, statuses, user_for

pytestmark = pytest.mark.django_db

GUARDIANS = "/api/guardians/"
_numbers = itertools.count()


def guardian_url(guardian, **query):
    suffix = "".join(f"?{key}={value}" for key, value in query.items())
    return f"{GUARDIANS}{guardian.pk}/{suffix}"


def new_guardian(school, student_ids, **fields):
    return {
        "school_id": school.pk,
        "email": f"parent-{next(_numbers)}@example.test",
        "full_name": "Gil Guardian",
        "student_ids": student_ids,
        **fields,
    }


def linked_students(guardian):
    return set(GuardianLink.objects.filter(guardian=guardian).values_list("student_id", flat=True))


@pytest.fixture
def parent_in_both(world, other_world):
    """A guardian with a child in each school."""
    return f.guardian_of(world.student, other_world.student)


# --- list ------------------------------------------------------------------------------------------


def test_list_by_role(world, other_world):
    seen = {role: client_for(user_for(role, world, other_world)).get(GUARDIANS) for role in ROLES}

    assert seen.pop("anonymous").status_code == 401
    both = sorted([world.guardian.pk, world.other_guardian.pk])
    assert {role: ids(response) for role, response in seen.items()} == {
        "owner": both,
        "admin": both,
        "teacher": [world.guardian.pk],
        "other_teacher": [world.other_guardian.pk],
        "student": [],
        "guardian": [world.guardian.pk],
        "other_guardian": [world.other_guardian.pk],
        "outsider": sorted([other_world.guardian.pk, other_world.other_guardian.pk]),
    }


def test_a_guardian_sees_themselves_not_the_other_guardians_of_their_child(world):
    co_parent = f.guardian_of(world.student)

    assert ids(client_for(world.guardian).get(GUARDIANS)) == [world.guardian.pk]
    assert client_for(world.guardian).get(guardian_url(co_parent)).status_code == 404
    assert set(ids(client_for(world.teacher.user).get(GUARDIANS))) == {world.guardian.pk, co_parent.pk}


def test_a_guardians_students_are_only_those_the_viewer_may_see(world, other_world, parent_in_both):
    def students(user):
        return client_for(user).get(guardian_url(parent_in_both)).json()

    mine = students(world.admin)
    assert mine == {
        "id": parent_in_both.pk,
        "name": parent_in_both.full_name,
        "email": parent_in_both.email,
        "students": [{"id": world.student.pk, "name": world.student.user.full_name}],
    }
    assert [s["id"] for s in students(other_world.owner)["students"]] == [other_world.student.pk]
    assert [s["id"] for s in students(parent_in_both)["students"]] == sorted([world.student.pk, other_world.student.pk])
    assert client_for(world.other_teacher.user).get(guardian_url(parent_in_both)).status_code == 404


def test_filters_match_only_on_what_the_viewer_may_see(world, other_world, parent_in_both):
    client = client_for(world.owner)

    assert ids(client.get(GUARDIANS, {"school": other_world.school.pk})) == []
    assert ids(client.get(GUARDIANS, {"student_id": other_world.student.pk})) == []
    assert ids(client.get(GUARDIANS, {"student_id": world.student.pk})) == sorted(
        [world.guardian.pk, parent_in_both.pk]
    )
    assert ids(client.get(GUARDIANS, {"school": world.school.pk})) == sorted(
        [world.guardian.pk, world.other_guardian.pk, parent_in_both.pk]
    )
    assert ids(client.get(GUARDIANS, {"q": world.other_guardian.email})) == [world.other_guardian.pk]
    assert client.get(GUARDIANS, {"student_id": "-3"}).status_code == 400


def test_a_guardian_whose_role_was_removed_is_not_listed(world):
    Membership.objects.filter(user=world.guardian, role=Role.GUARDIAN).update(is_active=False)

    assert ids(client_for(world.owner).get(GUARDIANS)) == [world.other_guardian.pk]


def test_list_query_count_does_not_grow_with_guardians(world, django_assert_num_queries):
    client = client_for(world.admin)
    for count in (3, 6):
        while len(ids(client.get(GUARDIANS))) < count:
            f.guardian_of(f.student_in(world.school), world.student)
        cache.clear()  # each measurement builds the viewer\'s roles too
        with django_assert_num_queries(AUTH_QUERIES + 3):  # count, page, students
            assert len(ids(client.get(GUARDIANS))) == count


def test_guardian_viewer_query_count_does_not_grow_with_children(world, django_assert_num_queries):
    client = client_for(world.guardian)
    for count in (3, 6):
        while GuardianLink.objects.filter(guardian=world.guardian).count() < count:
            f.guardian_of(f.student_in(world.school), user=world.guardian)
        cache.clear()  # each measurement builds the viewer\'s roles too
        with django_assert_num_queries(AUTH_QUERIES + 4):  # wards, count, page, students
            response = client.get(GUARDIANS)
        assert len(response.json()["results"][0]["students"]) == count


# --- create ----------------------------------------------------------------------------------------


def test_create_by_role(world, other_world):
    table = statuses(world, other_world, lambda c: c.post(GUARDIANS, new_guardian(world.school, [world.student.pk])))

    assert table == {
        **dict.fromkeys(ROLES, 403),
        "owner": 201,
        "admin": 201,
        "outsider": 400,
        "anonymous": 401,
    }


def test_admin_invites_a_guardian(world):
    payload = new_guardian(
        world.school,
        [world.student.pk, world.other_student.pk],
        email="Mum@Example.TEST",
        full_name="Mia Mum",
        relationship="mother",
    )

    response = client_for(world.admin).post(GUARDIANS, payload)

    assert response.status_code == 201
    assert (response.json()["role"], response.json()["status"]) == ("guardian", "pending")
    assert not User.objects.filter(email="mum@example.test").exists()
    user = accept_invitation("mum@example.test")
    assert Membership.objects.get(user=user).role == Role.GUARDIAN
    assert set(GuardianLink.objects.filter(guardian=user).values_list("relationship", flat=True)) == {"mother"}
    shown = client_for(world.admin).get(f"{GUARDIANS}{user.pk}/").json()
    assert [s["id"] for s in shown["students"]] == sorted([world.student.pk, world.other_student.pk])
    assert ActivityLog.objects.filter(verb="invitation.accepted", data__user_id=user.pk).exists()


def test_an_existing_guardian_who_accepts_gains_the_new_links(world):
    response = client_for(world.admin).post(
        GUARDIANS, new_guardian(world.school, [world.other_student.pk], email=world.guardian.email)
    )

    assert response.status_code == 201
    assert linked_students(world.guardian) == {world.student.pk}
    accept_invitation(world.guardian.email)
    assert linked_students(world.guardian) == {world.student.pk, world.other_student.pk}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"student_ids": []}, "student_ids"),
        ({"student_ids": [999_999]}, "student_ids"),
        ({"student_ids": None}, "student_ids"),
        ({"relationship": "r" * 51}, "relationship"),
        ({"email": "bad@"}, "email"),
        ({"school_id": 0}, "school_id"),
    ],
)
def test_create_rejects_bad_input(world, fields, field):
    response = client_for(world.owner).post(GUARDIANS, {**new_guardian(world.school, [world.student.pk]), **fields})

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Invitation.objects.exists()


def test_students_must_be_of_the_school(world, other_world):
    response = client_for(world.owner).post(GUARDIANS, new_guardian(world.school, [other_world.student.pk]))

    assert response.status_code == 400
    assert response.json()["fields"] == {"student_ids": [f"Not students of this school: {other_world.student.pk}."]}
    assert not Invitation.objects.exists()


# --- retrieve / update / delete --------------------------------------------------------------------


def test_retrieve_by_role(world, other_world):
    table = statuses(world, other_world, lambda c: c.get(guardian_url(world.guardian)))

    assert table == {
        **dict.fromkeys(ROLES, 404),
        "owner": 200,
        "admin": 200,
        "teacher": 200,
        "guardian": 200,
        "anonymous": 401,
    }


def test_update_by_role(world, other_world):
    url = guardian_url(world.guardian, school=world.school.pk)
    # Staff link the guardian to a new pupil too; everyone after them asks to undo it, and may not.
    pupil = f.student_in(world.school)
    asked = iter([[world.student.pk, pupil.pk]] * 2 + [[world.student.pk]] * (len(ROLES) - 2))
    table = statuses(world, other_world, lambda c: c.patch(url, {"student_ids": next(asked)}))

    assert table == {
        **dict.fromkeys(ROLES, 404),
        "owner": 200,
        "admin": 200,
        "teacher": 403,
        "guardian": 403,
        "anonymous": 401,
    }
    assert linked_students(world.guardian) == {world.student.pk, pupil.pk}


def test_admin_sets_a_guardians_students(world, other_world, parent_in_both):
    response = client_for(world.admin).patch(
        guardian_url(parent_in_both), {"school_id": world.school.pk, "student_ids": [world.other_student.pk]}
    )

    assert response.status_code == 200
    assert [s["id"] for s in response.json()["students"]] == [world.other_student.pk]
    assert linked_students(parent_in_both) == {world.other_student.pk, other_world.student.pk}
    assert ActivityLog.objects.get(verb="guardian.updated").data == {"student_ids": [world.other_student.pk]}


def test_update_sets_the_relationship_of_kept_and_new_links(world):
    response = client_for(world.admin).patch(
        guardian_url(world.guardian, school=world.school.pk),
        {"student_ids": [world.student.pk, world.other_student.pk], "relationship": "aunt"},
    )

    assert response.status_code == 200
    assert set(GuardianLink.objects.filter(guardian=world.guardian).values_list("relationship", flat=True)) == {"aunt"}


def test_update_needs_a_school_where_they_are_a_guardian(world):
    elsewhere = f.SchoolFactory()
    f.member(school=elsewhere, role=Role.ADMIN, user=world.admin)
    client = client_for(world.admin)

    missing = client.patch(guardian_url(world.guardian), {"student_ids": [world.student.pk]})
    not_there = client.patch(guardian_url(world.guardian, school=elsewhere.pk), {"student_ids": [world.student.pk]})

    assert missing.status_code == not_there.status_code == 400
    assert "school_id" in missing.json()["fields"]
    assert not_there.json()["fields"] == {"school_id": ["This person is not a guardian in this school."]}
    assert linked_students(world.guardian) == {world.student.pk}
    assert not Membership.objects.filter(user=world.guardian, school=elsewhere).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"student_ids": []}, "student_ids"), ({}, "student_ids"), ({"student_ids": [999_999]}, "student_ids")],
)
def test_update_rejects_bad_input(world, payload, field):
    response = client_for(world.admin).patch(guardian_url(world.guardian, school=world.school.pk), payload)

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert linked_students(world.guardian) == {world.student.pk}


def test_remove_by_role(world, other_world):
    url = guardian_url(world.guardian, school=world.school.pk)
    refused = statuses(world, other_world, lambda c: c.delete(url), ROLES[2:])
    kept = linked_students(world.guardian)
    by_admin = client_for(world.admin).delete(url)

    assert {**refused, "admin": by_admin.status_code} == {
        **dict.fromkeys(ROLES[2:], 404),
        "teacher": 403,
        "guardian": 403,
        "admin": 204,
        "anonymous": 401,
    }
    assert kept == {world.student.pk}
    assert linked_students(world.guardian) == set()


def test_remove_unlinks_in_that_school_only(world, other_world, parent_in_both):
    response = client_for(world.owner).delete(guardian_url(parent_in_both, school=world.school.pk))

    assert response.status_code == 204
    assert linked_students(parent_in_both) == {other_world.student.pk}
    assert not Membership.objects.get(user=parent_in_both, school=world.school).is_active
    assert Membership.objects.get(user=parent_in_both, school=other_world.school).is_active
    assert client_for(world.owner).get(guardian_url(parent_in_both)).status_code == 404
    assert ActivityLog.objects.filter(verb="guardian.removed", object_id=parent_in_both.pk).exists()


def test_remove_needs_a_school(world):
    response = client_for(world.owner).delete(guardian_url(world.guardian))

    assert response.status_code == 400
    assert linked_students(world.guardian) == {world.student.pk}
