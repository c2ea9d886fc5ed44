from __future__ import annotations

from typing import Any

import pytest

from chalkboard.activity.models import ActivityLog
from chalkboard.common.api import ErrorOutput
from chalkboard.people.models import TeachingAssignment
from chalkboard.scheduling.models import Session
from chalkboard.scheduling.services import (
    SESSION_BOOKING_FORBIDDEN,
    TEACHER_BOOKS_OWN_ONLY,
    UNKNOWN_STUDENTS,
    UNKNOWN_SUBJECT,
    UNKNOWN_TEACHER,
)
from chalkboard.schools.models import Membership, Role
from tests import factories as f
from tests.conftest import client_for
from tests.scheduling.conftest import LIST_URL, ROLES

pytestmark = pytest.mark.django_db


def booking(world, **overrides: Any) -> dict[str, Any]:
    """A valid booking of world.teacher with world.student."""
    return {
        "school_id": world.school.pk,
        "teacher_id": world.teacher.pk,
        "subject_id": world.session.subject_id,
        "student_ids": [world.student.pk],
        "starts_at": "2025-03-01T15:00:00+00:00",
        "planned_duration_minutes": 45,
        **overrides,
    }


CREATE_STATUS = {
    "owner": 201,
    "admin": 201,
    "teacher": 201,
    "other_teacher": 403,  # a teacher books only for themselves
    "student": 403,
    "other_student": 403,
    "guardian": 403,
    "other_guardian": 403,
    "outsider": 404,  # not a member of the school at all
    "anonymous": 401,
}


@pytest.mark.parametrize("role", ROLES)
def test_who_may_book_a_session_for_worlds_teacher(world, client_as, role):
    before = Session.objects.count()

    response = client_as(role).post(LIST_URL, booking(world), format="json")

    assert response.status_code == CREATE_STATUS[role], response.json()
    assert Session.objects.count() == before + (1 if response.status_code == 201 else 0)


def test_a_booking_answers_with_the_new_session(world, client_as):
    response = client_as("admin").post(LIST_URL, booking(world, location="Room 2"), format="json")

    body = response.json()
    session = Session.objects.get(pk=body["id"])
    assert body["school_id"] == world.school.pk
    assert body["teacher"] == {"id": world.teacher.pk, "name": world.teacher.user.full_name}
    assert body["starts_at"] == "2025-03-01T15:00:00Z"
    assert body["ends_at"] == "2025-03-01T15:45:00Z"
    assert body["students"] == [{"id": world.student.pk, "name": world.student.user.full_name, "attendance": None}]
    assert (body["status"], body["version"], body["location"], body["notes"]) == ("scheduled", 1, "Room 2", [])
    assert list(session.attendees.values_list("student_id", flat=True)) == [world.student.pk]


def test_a_booking_is_recorded_in_the_activity_log(world, client_as):
    session_id = client_as("owner").post(LIST_URL, booking(world), format="json").json()["id"]

    entry = ActivityLog.objects.get(verb="session.created")
    assert (entry.actor, entry.school_id, entry.teacher_id, entry.object_id) == (
        world.owner,
        world.school.pk,
        world.teacher.pk,
        session_id,
    )
    assert entry.data["student_ids"] == [world.student.pk]


def test_a_teacher_books_their_own_session_with_the_students_assigned_to_them(world, client_as):
    f.assign(world.other_teacher, world.student)
    response = client_as("other_teacher").post(
        LIST_URL,
        booking(world, teacher_id=world.other_teacher.pk, student_ids=[world.student.pk, world.other_student.pk]),
        format="json",
    )

    assert response.status_code == 201
    assert {s["id"] for s in response.json()["students"]} == {world.student.pk, world.other_student.pk}
    session = Session.objects.get(pk=response.json()["id"])
    assert (session.teacher_id, session.school_id) == (world.other_teacher.pk, world.school.pk)
    assert set(session.attendees.values_list("student_id", flat=True)) == {world.student.pk, world.other_student.pk}


def test_a_teacher_may_not_book_a_student_not_assigned_to_them(world, client_as):
    """Unassigned, the student is one the teacher may not see: answered as an unknown id."""
    response = client_as("other_teacher").post(
        LIST_URL, booking(world, teacher_id=world.other_teacher.pk, student_ids=[world.student.pk]), format="json"
    )

    assert response.status_code == 400
    assert "student_ids" in response.json()["fields"]
    assert not Session.objects.filter(teacher=world.other_teacher, attendees__student=world.student).exists()


def test_staff_booking_assigns_the_students_to_the_teacher(world, client_as):
    assert not TeachingAssignment.objects.filter(teacher=world.other_teacher, student=world.student).exists()

    response = client_as("admin").post(
        LIST_URL, booking(world, teacher_id=world.other_teacher.pk, student_ids=[world.student.pk]), format="json"
    )

    assert response.status_code == 201
    assert TeachingAssignment.objects.get(teacher=world.other_teacher, student=world.student).assigned_by == world.admin


def test_a_teacher_booking_for_another_teacher_is_told_why(world, client_as):
    before = Session.objects.count()

    response = client_as("other_teacher").post(LIST_URL, booking(world), format="json")

    assert response.json() == {"status": 403, "code": "forbidden", "message": TEACHER_BOOKS_OWN_ONLY}
    assert Session.objects.count() == before


def test_a_student_booking_is_told_why(world, client_as):
    before = Session.objects.count()

    response = client_as("student").post(LIST_URL, booking(world), format="json")

    assert response.json()["message"] == SESSION_BOOKING_FORBIDDEN
    assert Session.objects.count() == before


def test_a_school_one_is_not_a_member_of_answers_like_one_that_does_not_exist(world, other_world, client_as):
    client = client_as("owner")
    before = Session.objects.count()

    other = client.post(LIST_URL, booking(world, school_id=other_world.school.pk), format="json")
    missing = client.post(LIST_URL, booking(world, school_id=10**9), format="json")

    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert list(other.json()["fields"]) == ["school_id"]
    assert Session.objects.count() == before


def test_an_owner_who_also_teaches_may_still_book_any_teacher(world):
    f.teacher_in(world.school, user=world.owner)

    response = client_for(world.owner).post(LIST_URL, booking(world), format="json")

    assert response.status_code == 201
    assert response.json()["teacher"]["id"] == world.teacher.pk
    assert Session.objects.get(pk=response.json()["id"]).teacher_id == world.teacher.pk


def test_ids_from_another_school_answer_exactly_like_unknown_ids(world, other_world, client_as):
    client = client_as("owner")
    missing_id = 10**9

    for field, foreign, message in [
        ("teacher_id", other_world.teacher.pk, UNKNOWN_TEACHER),
        ("subject_id", other_world.session.subject_id, UNKNOWN_SUBJECT),
    ]:
        foreign_answer = client.post(LIST_URL, booking(world, **{field: foreign}), format="json")
        missing_answer = client.post(LIST_URL, booking(world, **{field: missing_id}), format="json")
        assert foreign_answer.status_code == missing_answer.status_code == 400
        assert foreign_answer.json() == missing_answer.json()
        assert foreign_answer.json()["fields"] == {field: [message]}

    foreign_student = client.post(LIST_URL, booking(world, student_ids=[other_world.student.pk]), format="json")
    missing_student = client.post(LIST_URL, booking(world, student_ids=[missing_id]), format="json")
    assert foreign_student.status_code == missing_student.status_code == 400
    assert foreign_student.json()["fields"] == {"student_ids": [UNKNOWN_STUDENTS.format(ids=other_world.student.pk)]}
    assert missing_student.json()["fields"] == {"student_ids": [UNKNOWN_STUDENTS.format(ids=missing_id)]}
    assert Session.objects.filter(school=world.school).count() == 2


def test_every_unknown_party_is_named_at_once(world, other_world, client_as):
    before = Session.objects.count()

    response = client_as("owner").post(
        LIST_URL,
        booking(
            world,
            teacher_id=world.owner.pk,  # a member, but not a teacher
            subject_id=other_world.session.subject_id,
            student_ids=[world.student.pk, 10**9, other_world.student.pk],
        ),
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "teacher_id": [UNKNOWN_TEACHER],
        "subject_id": [UNKNOWN_SUBJECT],
        "student_ids": [UNKNOWN_STUDENTS.format(ids=f"{10**9}, {other_world.student.pk}")],
    }
    assert Session.objects.count() == before


def test_inactive_teachers_and_students_cannot_be_booked(world, client_as):
    client = client_as("owner")
    Membership.objects.filter(user=world.other_teacher.user, role=Role.TEACHER).update(is_active=False)
    world.other_student.is_active = False
    world.other_student.save(update_fields=["is_active"])
    left = f.student_in(world.school)
    Membership.objects.filter(user=left.user, role=Role.STUDENT).update(is_active=False)
    before = Session.objects.count()

    teacher = client.post(LIST_URL, booking(world, teacher_id=world.other_teacher.pk), format="json")
    students = client.post(LIST_URL, booking(world, student_ids=[world.other_student.pk, left.pk]), format="json")

    assert teacher.json()["fields"] == {"teacher_id": [UNKNOWN_TEACHER]}
    assert students.json()["fields"] == {
        "student_ids": [UNKNOWN_STUDENTS.format(ids=f"{world.other_student.pk}, {left.pk}")]
    }
    assert Session.objects.count() == before


def test_a_teacher_whose_account_is_disabled_cannot_be_booked(world, client_as):
    world.other_teacher.user.is_active = False
    world.other_teacher.user.save(update_fields=["is_active"])
    before = Session.objects.count()

    response = client_as("owner").post(LIST_URL, booking(world, teacher_id=world.other_teacher.pk), format="json")

    assert response.json()["fields"] == {"teacher_id": [UNKNOWN_TEACHER]}
    assert Session.objects.count() == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"school_id": "one"}, "school_id"),
        ({"school_id": 10**30}, "school_id"),
        ({"teacher_id": None}, "teacher_id"),
        ({"subject_id": -1}, "subject_id"),
        ({"student_ids": []}, "student_ids"),
        ({"student_ids": "12"}, "student_ids"),
        ({"student_ids": ["x"]}, "student_ids"),
        ({"student_ids": [1, 1]}, "student_ids"),
        ({"student_ids": list(range(1, 52))}, "student_ids"),
        ({"student_ids": [2**63]}, "student_ids"),
        ({"starts_at": "2025-03-01T15:00:00"}, "starts_at"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"starts_at": "2025-02-30T15:00:00+00:00"}, "starts_at"),
        ({"starts_at": 1735689600}, "starts_at"),
        ({"starts_at": "0001-01-01T00:00:00+05:00"}, "starts_at"),
        ({"starts_at": "9999-12-31T23:59:00+00:00"}, "starts_at"),
        ({"planned_duration_minutes": 0}, "planned_duration_minutes"),
        ({"planned_duration_minutes": 721}, "planned_duration_minutes"),
        ({"planned_duration_minutes": "long"}, "planned_duration_minutes"),
        ({"location": "x" * 201}, "location"),
        ({"location": {"room": 1}}, "location"),
    ],
)
def test_invalid_bookings_answer_400_naming_the_field(world, client_as, overrides, field):
    before = Session.objects.count()

    response = client_as("owner").post(LIST_URL, booking(world, **overrides), format="json")

    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["code"]) == (400, "invalid")
    assert list(body["fields"]) == [field]
    assert Session.objects.count() == before


def test_errors_have_the_documented_shape(world, client_as):
    client = client_as("owner")
    invalid = client.post(LIST_URL, booking(world, student_ids=[]), format="json").json()
    not_found = client.post(LIST_URL, booking(world, school_id=10**9), format="json").json()
    forbidden = client_as("student").post(LIST_URL, booking(world), format="json").json()

    for body in (invalid, not_found, forbidden):
        documented = ErrorOutput(data=body)
        assert documented.is_valid(), documented.errors
        assert set(body) <= set(ErrorOutput().fields) == {"status", "code", "message", "fields"}
    assert "fields" not in forbidden


def test_a_naive_start_time_is_refused_rather_than_guessed(world, client_as):
    response = client_as("owner").post(LIST_URL, booking(world, starts_at="2025-03-01T15:00:00"), format="json")

    assert "offset" in response.json()["fields"]["starts_at"][0]


def test_a_missing_field_and_a_non_object_body_answer_400(world, client_as):
    client = client_as("owner")
    payload = booking(world)
    del payload["subject_id"]

    missing = client.post(LIST_URL, payload, format="json")
    not_an_object = client.post(LIST_URL, [payload], format="json")
    not_json = client.generic("POST", LIST_URL, "{nope", content_type="application/json")

    assert missing.status_code == not_an_object.status_code == not_json.status_code == 400
    assert list(missing.json()["fields"]) == ["subject_id"]
    assert not_an_object.json()["code"] == "invalid"
    assert not_json.json()["code"] == "parse_error"
    assert not Session.objects.filter(starts_at=payload["starts_at"]).exists()


def test_fifty_students_may_share_a_session(world, client_as):
    students = [world.student.pk] + [f.student_in(world.school).pk for _ in range(49)]

    response = client_as("owner").post(LIST_URL, booking(world, student_ids=students), format="json")

    assert response.status_code == 201
    assert len(response.json()["students"]) == 50
    stored = Session.objects.get(pk=response.json()["id"]).attendees.values_list("student_id", flat=True)
    assert sorted(stored) == sorted(students)
