from __future__ import annotations

import pytest

from chalkboard.activity.models import ActivityLog
from chalkboard.scheduling.selectors import SESSION_MANAGE_FORBIDDEN
from chalkboard.scheduling.services import (
    SESSION_NOT_CHANGEABLE,
    TEACHER_REASSIGN_STAFF_ONLY,
    UNKNOWN_STUDENTS,
    UNKNOWN_SUBJECT,
    UNKNOWN_TEACHER,
    VERSION_MISMATCH,
)
from tests import factories as f
from tests.conftest import client_for
from tests.scheduling.conftest import MANAGE_STATUS, ROLES, finish, session_url, stored

pytestmark = pytest.mark.django_db

NEW_START = "2030-05-06T08:30:00+01:00"


@pytest.mark.parametrize("role", ROLES)
def test_who_may_reschedule_a_session(world, client_as, role):
    response = client_as(role).patch(session_url(world.session.pk), {"starts_at": NEW_START}, format="json")

    assert response.status_code == MANAGE_STATUS[role], response.json()
    world.session.refresh_from_db()
    assert (world.session.version == 2) == (response.status_code == 200)


def test_a_student_is_told_why_they_may_not_change_their_session(world, client_as):
    before = stored(world.session)

    response = client_as("student").patch(session_url(world.session.pk), {"location": "Home"}, format="json")

    assert response.json() == {"status": 403, "code": "forbidden", "message": SESSION_MANAGE_FORBIDDEN}
    assert stored(world.session) == before


def test_permission_is_checked_before_the_input(world, client_as):
    before = stored(world.session)

    response = client_as("guardian").patch(session_url(world.session.pk), {"starts_at": "garbage"}, format="json")

    assert response.status_code == 403
    assert stored(world.session) == before


def test_rescheduling_changes_the_session_bumps_its_version_and_is_logged(world, client_as):
    subject = f.SubjectFactory(school=world.school)

    response = client_as("teacher").patch(
        session_url(world.session.pk),
        {"starts_at": NEW_START, "planned_duration_minutes": 90, "location": "Room 9", "subject_id": subject.pk},
        format="json",
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["starts_at"], body["ends_at"]) == ("2030-05-06T07:30:00Z", "2030-05-06T09:00:00Z")
    assert (body["planned_duration_minutes"], body["location"], body["subject"]["id"]) == (90, "Room 9", subject.pk)
    assert body["version"] == 2
    assert [note["visibility"] for note in body["notes"]] == ["shared", "staff"]
    entry = ActivityLog.objects.get(verb="session.updated")
    assert (entry.actor, entry.object_id, entry.teacher_id) == (world.teacher.user, world.session.pk, world.teacher.pk)
    assert set(entry.data["changes"]) == {"starts_at", "planned_duration_minutes", "location", "subject_id"}
    assert entry.data["changes"]["planned_duration_minutes"] == [60, 90]


def test_replacing_the_students(world, client_as):
    newcomer = f.student_in(world.school)

    response = client_as("owner").patch(
        session_url(world.session.pk), {"student_ids": [newcomer.pk, world.other_student.pk]}, format="json"
    )

    assert [s["id"] for s in response.json()["students"]] == [newcomer.pk, world.other_student.pk]
    assert set(world.session.attendees.values_list("student_id", flat=True)) == {newcomer.pk, world.other_student.pk}
    changes = ActivityLog.objects.get(verb="session.updated").data["changes"]
    assert changes == {"student_ids": {"added": [newcomer.pk, world.other_student.pk], "removed": [world.student.pk]}}


def test_a_booked_student_who_has_since_left_may_stay_but_not_be_added_back(world, client_as):
    world.student.is_active = False
    world.student.save(update_fields=["is_active"])
    client = client_as("owner")

    kept = client.patch(
        session_url(world.session.pk), {"student_ids": [world.student.pk, world.other_student.pk]}, format="json"
    )
    removed = client.patch(session_url(world.session.pk), {"student_ids": [world.other_student.pk]}, format="json")
    re_added = client.patch(
        session_url(world.session.pk), {"student_ids": [world.student.pk, world.other_student.pk]}, format="json"
    )

    assert (kept.status_code, removed.status_code, re_added.status_code) == (200, 200, 400)
    assert re_added.json()["fields"] == {"student_ids": [UNKNOWN_STUDENTS.format(ids=world.student.pk)]}
    assert stored(world.session)["student_ids"] == [world.other_student.pk]


def test_a_patch_that_changes_nothing_keeps_the_version_and_logs_nothing(world, client_as):
    session = world.session

    response = client_as("owner").patch(
        session_url(session.pk),
        {
            "starts_at": session.starts_at.isoformat(),
            "location": "",
            "student_ids": [world.student.pk],
            "teacher_id": world.teacher.pk,
        },
        format="json",
    )
    empty = client_as("owner").patch(session_url(session.pk), {}, format="json")

    assert response.status_code == empty.status_code == 200
    assert response.json()["version"] == empty.json()["version"] == 1
    assert not ActivityLog.objects.filter(verb="session.updated").exists()


@pytest.mark.parametrize("status", ["completed", "no_show", "cancelled"])
def test_only_a_scheduled_session_may_be_changed(world, client_as, status):
    finish(world.session, status)

    response = client_as("owner").patch(session_url(world.session.pk), {"location": "Home"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"status": 409, "code": "conflict", "message": SESSION_NOT_CHANGEABLE[status]}
    world.session.refresh_from_db()
    assert world.session.location == ""


def test_a_stale_version_in_the_body_is_refused(world, client_as):
    client = client_as("teacher")
    read = client.get(session_url(world.session.pk)).json()["version"]
    client.patch(session_url(world.session.pk), {"location": "Room 1"}, format="json")

    stale = client.patch(session_url(world.session.pk), {"location": "Room 2", "version": read}, format="json")
    after_stale = stored(world.session)
    fresh = client.patch(session_url(world.session.pk), {"location": "Room 3", "version": read + 1}, format="json")

    assert stale.status_code == 409
    assert stale.json() == {"status": 409, "code": "version_conflict", "message": VERSION_MISMATCH}
    assert (after_stale["location"], after_stale["version"]) == ("Room 1", 2)
    assert fresh.status_code == 200
    assert (fresh.json()["location"], fresh.json()["version"]) == ("Room 3", 3)
    assert (stored(world.session)["location"], stored(world.session)["version"]) == ("Room 3", 3)


@pytest.mark.parametrize(("header", "expected"), [('"1"', 200), ('W/"1"', 200), ("1", 200), ("*", 200), ('"2"', 409)])
def test_if_match_carries_the_version(world, client_as, header, expected):
    response = client_as("owner").patch(
        session_url(world.session.pk), {"location": "Room 5"}, format="json", HTTP_IF_MATCH=header
    )

    assert response.status_code == expected
    now = stored(world.session)
    assert (now["location"], now["version"]) == (("Room 5", 2) if expected == 200 else ("", 1))


def test_a_version_in_the_body_takes_precedence_over_if_match(world, client_as):
    response = client_as("owner").patch(
        session_url(world.session.pk), {"location": "Room 5", "version": 1}, format="json", HTTP_IF_MATCH='"7"'
    )

    assert response.status_code == 200
    now = stored(world.session)
    assert (now["location"], now["version"]) == ("Room 5", 2)


@pytest.mark.parametrize("header", ['"abc"', '"0"', f'"{2**40}"', '"1", "2"', '"\u0661"'])
def test_a_malformed_if_match_answers_400(world, client_as, header):
    before = stored(world.session)

    response = client_as("owner").patch(
        session_url(world.session.pk), {"location": "Room 5"}, format="json", HTTP_IF_MATCH=header
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["If-Match"]
    assert stored(world.session) == before


def test_a_teacher_may_not_give_their_session_to_another_teacher(world, client_as):
    response = client_as("teacher").patch(
        session_url(world.session.pk), {"teacher_id": world.other_teacher.pk}, format="json"
    )

    assert response.json() == {"status": 403, "code": "forbidden", "message": TEACHER_REASSIGN_STAFF_ONLY}
    world.session.refresh_from_db()
    assert world.session.teacher_id == world.teacher.pk


def test_staff_may_give_a_session_to_another_teacher_of_the_school(world, client_as):
    response = client_as("admin").patch(
        session_url(world.session.pk), {"teacher_id": world.other_teacher.pk}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["teacher"]["id"] == world.other_teacher.pk
    assert stored(world.session)["teacher_id"] == world.other_teacher.pk
    # The session now belongs to the other teacher, and only to them.
    assert client_for(world.teacher.user).get(session_url(world.session.pk)).status_code == 404
    assert client_for(world.other_teacher.user).get(session_url(world.session.pk)).status_code == 200


def test_ids_from_another_school_answer_exactly_like_unknown_ids(world, other_world, client_as):
    client = client_as("owner")
    url = session_url(world.session.pk)

    for field, foreign, message in [
        ("teacher_id", other_world.teacher.pk, UNKNOWN_TEACHER),
        ("subject_id", other_world.session.subject_id, UNKNOWN_SUBJECT),
    ]:
        foreign_answer = client.patch(url, {field: foreign}, format="json")
        missing_answer = client.patch(url, {field: 10**9}, format="json")
        assert foreign_answer.status_code == missing_answer.status_code == 400
        assert foreign_answer.json() == missing_answer.json()
        assert foreign_answer.json()["fields"] == {field: [message]}

    foreign_student = client.patch(url, {"student_ids": [other_world.student.pk]}, format="json")
    assert foreign_student.json()["fields"] == {"student_ids": [UNKNOWN_STUDENTS.format(ids=other_world.student.pk)]}
    world.session.refresh_from_db()
    assert world.session.version == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"starts_at": "2030-05-06T08:30:00"}, "starts_at"),
        ({"starts_at": None}, "starts_at"),
        ({"planned_duration_minutes": 0}, "planned_duration_minutes"),
        ({"planned_duration_minutes": 10**12}, "planned_duration_minutes"),
        ({"location": "x" * 201}, "location"),
        ({"subject_id": "maths"}, "subject_id"),
        ({"student_ids": []}, "student_ids"),
        ({"student_ids": [3, 3]}, "student_ids"),
        ({"teacher_id": 10**30}, "teacher_id"),
        ({"version": 0}, "version"),
        ({"version": "new"}, "version"),
    ],
)
def test_invalid_changes_answer_400_naming_the_field(world, client_as, payload, field):
    before = stored(world.session)

    response = client_as("owner").patch(session_url(world.session.pk), payload, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert stored(world.session) == before


def test_a_non_object_body_answers_400(world, client_as):
    before = stored(world.session)

    response = client_as("owner").patch(session_url(world.session.pk), ["location"], format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert stored(world.session) == before
