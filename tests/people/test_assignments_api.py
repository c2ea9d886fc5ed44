"""Teaching assignments over HTTP: the staff's decision of which students a teacher reaches."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from chalkboard.activity.models import ActivityLog
from chalkboard.people.models import TeachingAssignment
from chalkboard.schools.models import Membership, Role
from tests import factories as f
from tests.conftest import client_for
from tests.schools.helpers import AUTH_QUERIES, ids

pytestmark = pytest.mark.django_db

ASSIGNMENTS = "/api/assignments/"


def test_assigning_twice_keeps_one_assignment_and_one_record(world):
    client = client_for(world.admin)
    body = {"teacher_id": world.other_teacher.pk, "student_id": world.student.pk}

    first = client.post(ASSIGNMENTS, body, format="json")
    second = client.post(ASSIGNMENTS, body, format="json")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["school_id"] == world.school.pk
    assert ActivityLog.objects.filter(verb="assignment.created").count() == 1
    assert client_for(world.other_teacher.user).get(f"/api/students/{world.student.pk}/").status_code == 200


def test_the_teacher_must_teach_in_the_students_school(world, other_world):
    response = client_for(world.admin).post(
        ASSIGNMENTS, {"teacher_id": other_world.teacher.pk, "student_id": world.student.pk}, format="json"
    )

    assert response.status_code == 400
    assert "teacher_id" in response.json()["fields"]
    assert not TeachingAssignment.objects.filter(teacher=other_world.teacher).exclude(school=other_world.school)


def test_a_student_who_left_is_not_assigned(world):
    Membership.objects.filter(user=world.other_student.user, role=Role.STUDENT).update(is_active=False)
    world.other_student.is_active = False
    world.other_student.save()

    response = client_for(world.admin).post(
        ASSIGNMENTS, {"teacher_id": world.teacher.pk, "student_id": world.other_student.pk}, format="json"
    )

    assert response.status_code == 400
    assert "student_id" in response.json()["fields"]


def test_list_by_role_and_filters(world, other_world):
    mine = TeachingAssignment.objects.get(teacher=world.teacher, student=world.student).pk
    theirs = TeachingAssignment.objects.get(teacher=world.other_teacher, student=world.other_student).pk

    assert ids(client_for(world.admin).get(ASSIGNMENTS)) == sorted([mine, theirs])
    assert ids(client_for(world.teacher.user).get(ASSIGNMENTS)) == [mine]
    assert ids(client_for(world.student.user).get(ASSIGNMENTS)) == []
    assert ids(client_for(world.admin).get(ASSIGNMENTS, {"teacher_id": world.other_teacher.pk})) == [theirs]
    assert ids(client_for(world.admin).get(ASSIGNMENTS, {"student_id": world.student.pk})) == [mine]
    assert ids(client_for(world.admin).get(ASSIGNMENTS, {"school": other_world.school.pk})) == []


def test_ending_an_assignment_is_recorded(world):
    assignment = TeachingAssignment.objects.get(teacher=world.teacher, student=world.student)

    assert client_for(world.owner).delete(f"{ASSIGNMENTS}{assignment.pk}/").status_code == 204

    assert not TeachingAssignment.objects.filter(pk=assignment.pk).exists()
    log = ActivityLog.objects.get(verb="assignment.deleted")
    assert (log.teacher_id, log.data) == (world.teacher.pk, {"student_id": world.student.pk})


def test_list_query_count_does_not_grow_with_assignments(django_assert_num_queries):
    school = f.SchoolFactory()
    admin = f.member(school=school, role=Role.ADMIN)
    teacher = f.teacher_in(school)
    client = client_for(admin)
    for count in (2, 5):
        while TeachingAssignment.objects.count() < count:
            f.assign(teacher, f.student_in(school))
        cache.clear()  # each measurement builds the viewer's roles too
        with django_assert_num_queries(AUTH_QUERIES + 2):  # count, page
            assert len(ids(client.get(ASSIGNMENTS))) == count
