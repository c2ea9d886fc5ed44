from __future__ import annotations

import itertools

import pytest
from django.core.cache import cache

from chalkboard.accounts.models import User
from chalkboard.activity.models import ActivityLog
from chalkboard.people.models import GuardianLink, Student
from chalkboard.schools.models import Membership, Role
from tests import factories as f
from tests.conftest import client_for
from tests.schools.helpers import AUTH_QUERIES, ROLES, accept_invitation, ids, statuses, user_for

pytestmark = pytest.mark.django_db

STUDENTS = "/api/students/"
_numbers = itertools.count()


def student_url(student):
    return f"{STUDENTS}{student.pk}/"


def new_student(school, **fields):
    return {"school_id": school.pk, "email": f"pupil-{next(_numbers)}@example.test", "full_name": "Pat Pupil", **fields}


# --- list ------------------------------------------------------------------------------------------


def test_list_by_role(world, other_world):
    seen = {role: client_for(user_for(role, world, other_world)).get(STUDENTS) for role in ROLES}

    assert seen.pop("anonymous").status_code == 401
    both = sorted([world.student.pk, world.other_student.pk])
    assert {role: ids(response) for role, response in seen.items()} == {
        "owner": both,
        "admin": both,
        "teacher": [world.student.pk],
        "other_teacher": [world.other_student.pk],
        "student": [world.student.pk],
        "guardian": [world.student.pk],
        "other_guardian": [world.other_student.pk],
        "outsider": sorted([other_world.student.pk, other_world.other_student.pk]),
    }


def test_staff_see_notes_and_guardians_teachers_see_guardians_families_see_neither(world):
    world.student.grade = "7B"
    world.student.notes = "Needs glasses."
    world.student.save()
    base = {
        "id": world.student.pk,
        "school_id": world.school.pk,
        "name": world.student.user.full_name,
        "email": world.student.user.email,
        "grade": "7B",
        "is_active": True,
    }
    guardians = [{"id": world.guardian.pk, "name": world.guardian.full_name}]

    def row(user):
        return client_for(user).get(student_url(world.student)).json()

    assert row(world.admin) == {**base, "guardians": guardians, "notes": "Needs glasses."}
    assert row(world.teacher.user) == {**base, "guardians": guardians}
    assert row(world.student.user) == base
    assert row(world.guardian) == base


def test_a_removed_guardian_is_not_listed(world):
    Membership.objects.filter(user=world.guardian, role=Role.GUARDIAN).update(is_active=False)

    assert client_for(world.admin).get(student_url(world.student)).json()["guardians"] == []


def test_filters(world, other_world):
    world.other_student.user.full_name = "Quentin Quiz"
    world.other_student.user.save()
    world.student.is_active = False
    world.student.save()
    client = client_for(world.owner)

    assert ids(client.get(STUDENTS, {"q": "quiz"})) == [world.other_student.pk]
    assert ids(client.get(STUDENTS, {"q": world.student.user.email})) == [world.student.pk]
    assert ids(client.get(STUDENTS, {"is_active": "false"})) == [world.student.pk]
    assert ids(client.get(STUDENTS, {"school": other_world.school.pk})) == []
    assert len(ids(client.get(STUDENTS, {"school": world.school.pk}))) == 2
    assert client.get(STUDENTS, {"school": "x"}).status_code == 400


def test_list_query_count_does_not_grow_with_students(world, django_assert_num_queries):
    client = client_for(world.admin)
    for count in (3, 6):
        while Student.objects.filter(school=world.school).count() < count:
            f.guardian_of(f.student_in(world.school))
        cache.clear()  # each measurement builds the viewer\'s roles too
        with django_assert_num_queries(AUTH_QUERIES + 3):  # count, page, guardians
            assert len(ids(client.get(STUDENTS))) == count


def test_teacher_list_query_count_does_not_grow_with_students(world, django_assert_num_queries):
    client = client_for(world.teacher.user)
    for count in (3, 6):
        while len(ids(client.get(STUDENTS))) < count:
            student = f.student_in(world.school)
            f.guardian_of(student)
            f.session_for(world.teacher, student, subject=world.session.subject)
        cache.clear()  # each measurement builds the viewer\'s roles too
        with django_assert_num_queries(AUTH_QUERIES + 3):
            assert len(ids(client.get(STUDENTS))) == count


# --- create ----------------------------------------------------------------------------------------


def test_create_by_role(world, other_world):
    table = statuses(world, other_world, lambda c: c.post(STUDENTS, new_student(world.school)))

    assert table == {
        **dict.fromkeys(ROLES, 403),
        "owner": 201,
        "admin": 201,
        "outsider": 400,
        "anonymous": 401,
    }


def test_admin_invites_a_student_with_guardians(world):
    payload = new_student(
        world.school, email="NEW.Kid@Example.test", grade="5A", notes="Shy.", guardian_ids=[world.guardian.pk]
    )

    response = client_for(world.admin).post(STUDENTS, payload)

    assert response.status_code == 201
    assert (response.json()["role"], response.json()["status"]) == ("student", "pending")
    assert not User.objects.filter(email="new.kid@example.test").exists()
    user = accept_invitation("new.kid@example.test")
    student = Student.objects.get(user=user)
    assert (student.school, student.grade, student.notes, student.is_active) == (world.school, "5A", "Shy.", True)
    assert Membership.objects.get(user=user).role == Role.STUDENT
    shown = client_for(world.admin).get(student_url(student)).json()
    assert shown["guardians"] == [{"id": world.guardian.pk, "name": world.guardian.full_name}]
    assert shown["notes"] == "Shy."
    assert ActivityLog.objects.filter(verb="invitation.accepted", data__user_id=user.pk).exists()


def test_inviting_a_current_student_changes_nothing_until_they_accept(world):
    response = client_for(world.admin).post(
        STUDENTS, new_student(world.school, email=world.student.user.email, grade="9Z")
    )

    assert response.status_code == 201
    world.student.refresh_from_db()
    assert world.student.grade != "9Z"
    accept_invitation(world.student.user.email)
    world.student.refresh_from_db()
    assert (world.student.grade, Student.objects.filter(user=world.student.user).count()) == ("9Z", 1)


def test_a_former_student_comes_back_keeping_their_guardians(world):
    client = client_for(world.admin)
    assert client.delete(student_url(world.student)).status_code == 204
    other = f.guardian_of(world.other_student)

    response = client.post(
        STUDENTS, new_student(world.school, email=world.student.user.email, grade="8A", guardian_ids=[other.pk])
    )
    assert response.status_code == 201
    accept_invitation(world.student.user.email)

    world.student.refresh_from_db()
    assert (world.student.is_active, world.student.grade) == (True, "8A")
    assert set(world.student.guardian_links.values_list("guardian_id", flat=True)) == {world.guardian.pk, other.pk}


def test_the_student_of_another_school_who_accepts_becomes_a_second_student_record(world, other_world):
    response = client_for(world.owner).post(STUDENTS, new_student(world.school, email=other_world.student.user.email))

    assert response.status_code == 201
    assert Student.objects.filter(user=other_world.student.user).count() == 1
    accept_invitation(other_world.student.user.email)
    assert Student.objects.filter(user=other_world.student.user).count() == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"guardian_ids": [999_999]}, "guardian_ids"),
        ({"guardian_ids": ["x"]}, "guardian_ids"),
        ({"guardian_ids": list(range(1, 102))}, "guardian_ids"),
        ({"grade": "g" * 51}, "grade"),
        ({"notes": "n" * 10_001}, "notes"),
        ({"email": ""}, "email"),
        ({"full_name": None}, "full_name"),
        ({"full_name": "n" * 151}, "full_name"),
        ({"school_id": "x"}, "school_id"),
        ({"school_id": 999_999}, "school_id"),
    ],
)
def test_create_rejects_bad_input(world, fields, field):
    response = client_for(world.owner).post(STUDENTS, new_student(world.school, **fields))

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert Student.objects.filter(school=world.school).count() == 2


def test_guardians_must_be_guardians_of_the_school(world, other_world):
    response = client_for(world.owner).post(
        STUDENTS, new_student(world.school, guardian_ids=[other_world.guardian.pk, world.teacher.pk])
    )

    assert response.status_code == 400
    expected = sorted([other_world.guardian.pk, world.teacher.pk])
    assert response.json()["fields"] == {
        "guardian_ids": [f"Not guardians in this school: {expected[0]}, {expected[1]}."]
    }
    assert Student.objects.filter(school=world.school).count() == 2


# --- retrieve / update / delete --------------------------------------------------------------------


def test_retrieve_by_role(world, other_world):
    table = statuses(world, other_world, lambda c: c.get(student_url(world.student)))

    assert table == {
        **dict.fromkeys(ROLES, 200),
        "other_teacher": 404,
        "other_guardian": 404,
        "outsider": 404,
        "anonymous": 401,
    }


@pytest.mark.parametrize("student_id", [999_999, 10**30])
def test_retrieve_unknown_student(world, student_id):
    assert client_for(world.owner).get(f"{STUDENTS}{student_id}/").status_code == 404


def test_update_by_role(world, other_world):
    grades = (f"G{n}" for n in itertools.count())
    table = statuses(world, other_world, lambda c: c.patch(student_url(world.student), {"grade": next(grades)}))

    assert table == {
        **dict.fromkeys(ROLES, 403),
        "owner": 200,
        "admin": 200,
        "other_teacher": 404,
        "other_guardian": 404,
        "outsider": 404,
        "anonymous": 401,
    }
    world.student.refresh_from_db()
    assert world.student.grade == "G1"  # the admin's, the last one let in


def test_admin_updates_grade_notes_and_guardians(world):
    new_guardian = f.member(school=world.school, role=Role.GUARDIAN)

    response = client_for(world.admin).patch(
        student_url(world.student), {"grade": "9C", "notes": "Moved up.", "guardian_ids": [new_guardian.pk]}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["grade"], body["notes"]) == ("9C", "Moved up.")
    assert body["guardians"] == [{"id": new_guardian.pk, "name": new_guardian.full_name}]
    assert not GuardianLink.objects.filter(guardian=world.guardian).exists()
    assert ActivityLog.objects.get(verb="student.updated").data == {"fields": ["grade", "notes", "guardian_ids"]}


def test_an_update_without_changes_records_nothing(world):
    response = client_for(world.admin).patch(student_url(world.student), {"grade": world.student.grade})

    assert response.status_code == 200
    assert not ActivityLog.objects.filter(verb="student.updated").exists()


def test_update_rejects_guardians_of_another_school(world, other_world):
    response = client_for(world.admin).patch(student_url(world.student), {"guardian_ids": [other_world.guardian.pk]})

    assert response.status_code == 400
    assert "guardian_ids" in response.json()["fields"]
    assert GuardianLink.objects.filter(guardian=world.guardian, student=world.student).exists()


def test_delete_by_role(world, other_world):
    refused = statuses(world, other_world, lambda c: c.delete(student_url(world.student)), ROLES[2:])
    world.student.refresh_from_db()
    kept = world.student.is_active
    by_admin = client_for(world.admin).delete(student_url(world.student))

    assert {**refused, "admin": by_admin.status_code} == {
        **dict.fromkeys(ROLES[2:], 403),
        "other_teacher": 404,
        "other_guardian": 404,
        "outsider": 404,
        "admin": 204,
        "anonymous": 401,
    }
    assert kept
    world.student.refresh_from_db()
    assert not world.student.is_active


def test_delete_deactivates_the_student_and_their_role(world):
    client = client_for(world.admin)

    assert client.delete(student_url(world.student)).status_code == 204
    assert client.delete(student_url(world.student)).status_code == 204  # already gone: nothing more happens

    world.student.refresh_from_db()
    assert not world.student.is_active
    assert not Membership.objects.get(user=world.student.user, role=Role.STUDENT).is_active
    assert ActivityLog.objects.filter(verb="student.deactivated").count() == 1
    assert client.get(student_url(world.student)).json()["is_active"] is False
    assert client_for(world.student.user).get(STUDENTS).status_code == 200
    assert ids(client_for(world.student.user).get(STUDENTS)) == []
