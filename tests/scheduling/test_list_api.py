from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalkboard.scheduling.filters import RANGE_EMPTY, RANGE_TOO_LONG
from chalkboard.scheduling.serializers import SessionOutput
from chalkboard.schools.models import Role
from tests import factories as f
from tests.conftest import client_for
from tests.scheduling.conftest import LIST_URL, ROLES

pytestmark = pytest.mark.django_db

# Which of world's sessions each role lists.
VISIBLE = {
    "owner": {"session", "other_session"},
    "admin": {"session", "other_session"},
    "teacher": {"session"},
    "other_teacher": {"other_session"},
    "student": {"session"},
    "other_student": {"other_session"},
    "guardian": {"session"},
    "other_guardian": {"other_session"},
    "outsider": set(),
}


def listed_ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["results"]]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_lists_what_it_may_see_and_nothing_of_another_school(world, other_world, client_as, role):
    response = client_as(role).get(LIST_URL)

    if role == "anonymous":
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        return
    expected = {getattr(world, name).pk for name in VISIBLE[role]}
    if role == "outsider":
        expected = {other_world.session.pk, other_world.other_session.pk}
    assert set(listed_ids(response)) == expected
    assert response.json()["count"] == len(expected)


def test_an_item_has_the_documented_shape(world, client_as):
    world.session.location = "Room 4"
    world.session.save(update_fields=["location"])

    item = client_as("owner").get(LIST_URL, {"teacher": world.teacher.pk}).json()["results"][0]

    assert item == {
        "id": world.session.pk,
        "school_id": world.school.pk,
        "teacher": {"id": world.teacher.pk, "name": world.teacher.user.full_name},
        "subject": {"id": world.session.subject_id, "name": world.session.subject.name},
        "starts_at": world.session.starts_at.isoformat().replace("+00:00", "Z"),
        "ends_at": (world.session.starts_at + timedelta(minutes=60)).isoformat().replace("+00:00", "Z"),
        "planned_duration_minutes": 60,
        "status": "scheduled",
        "location": "Room 4",
        "students": [{"id": world.student.pk, "name": world.student.user.full_name, "attendance": None}],
        "completed_at": None,
        "actual_duration_minutes": None,
        "version": 1,
    }
    documented = SessionOutput(data=item)
    assert documented.is_valid(), documented.errors
    assert set(item) == set(SessionOutput().fields)


def test_a_completed_session_shows_attendance_and_duration(world, client_as):
    session = world.session
    session.status = "completed"
    session.completed_at = session.starts_at + timedelta(minutes=50)
    session.actual_duration_minutes = 50
    session.save()
    session.attendees.update(attendance="late")

    item = client_as("teacher").get(LIST_URL).json()["results"][0]

    assert item["status"] == "completed"
    assert item["completed_at"] == session.completed_at.isoformat().replace("+00:00", "Z")
    assert item["actual_duration_minutes"] == 50
    assert item["students"][0]["attendance"] == "late"


def test_a_teacher_who_also_runs_another_school_sees_all_of_that_school_only(world, other_world):
    # Teaches in world, owns other_world: all of other_world's sessions, only their own in world.
    f.member(school=other_world.school, role=Role.OWNER, user=world.teacher.user)

    ids = listed_ids(client_for(world.teacher.user).get(LIST_URL))

    assert set(ids) == {world.session.pk, other_world.session.pk, other_world.other_session.pk}


def test_a_guardian_of_children_in_two_schools_sees_only_their_sessions(world, other_world):
    f.guardian_of(other_world.student, user=world.guardian)
    f.session_for(world.other_teacher, world.other_student, subject=world.session.subject)

    ids = listed_ids(client_for(world.guardian).get(LIST_URL))

    assert set(ids) == {world.session.pk, other_world.session.pk}


def test_an_inactive_membership_sees_nothing(world, client_as):
    world.school.memberships.filter(user=world.owner).update(is_active=False)

    assert listed_ids(client_as("owner").get(LIST_URL)) == []


def test_the_list_is_paginated(world, client_as):
    for _ in range(3):
        f.session_for(world.teacher, world.student, subject=world.session.subject)

    body = client_as("teacher").get(LIST_URL, {"page_size": 2}).json()

    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["next"] is not None
    assert body["previous"] is None


# --- Query counts ----------------------------------------------------------------------------------
# The token with its user (1), the viewer's memberships (1), the page's count, rows and students (3);
# students and guardians add one query for their own or their children's student ids.
LIST_QUERIES = {"owner": 5, "teacher": 5, "student": 6, "guardian": 6}


@pytest.mark.parametrize("role", LIST_QUERIES)
@pytest.mark.parametrize("extra_sessions", [3, 10])
def test_the_list_costs_a_fixed_number_of_queries(world, client_as, django_assert_num_queries, role, extra_sessions):
    classmate = f.student_in(world.school)
    for index in range(extra_sessions):
        students = (world.student, classmate) if index % 2 else (world.student,)
        session = f.session_for(world.teacher, *students, subject=f.SubjectFactory(school=world.school))
        f.note_on(session, author=world.teacher.user)
    client = client_as(role)

    with django_assert_num_queries(LIST_QUERIES[role]):
        response = client.get(LIST_URL, {"page_size": 100})

    assert len(listed_ids(response)) >= extra_sessions + 1


def test_a_date_filter_adds_one_query_for_the_schools_time_zones(world, client_as, django_assert_num_queries):
    client = client_as("owner")

    with django_assert_num_queries(LIST_QUERIES["owner"] + 1):
        client.get(LIST_URL, {"from": "2025-01-01"})


# --- Filters ---------------------------------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def timetable(world):
    """world.teacher's sessions on three days, in Lisbon (UTC+0 in winter)."""
    subject = world.session.subject
    return {
        "jan1": f.session_for(world.teacher, world.student, subject=subject, starts_at=at("2025-01-01T09:00:00+00:00")),
        "jan1_late": f.session_for(
            world.teacher, world.student, subject=subject, starts_at=at("2025-01-01T23:30:00+00:00")
        ),
        "jan2": f.session_for(world.teacher, world.student, subject=subject, starts_at=at("2025-01-02T10:00:00+00:00")),
        "jan3": f.session_for(world.teacher, world.student, subject=subject, starts_at=at("2025-01-03T10:00:00+00:00")),
    }


def test_filters_by_school_teacher_student_and_subject(world, other_world, client_as):
    client = client_as("owner")
    subject = f.SubjectFactory(school=world.school)
    group = f.session_for(world.other_teacher, world.student, world.other_student, subject=subject)

    assert set(listed_ids(client.get(LIST_URL, {"school": world.school.pk}))) == {
        world.session.pk,
        world.other_session.pk,
        group.pk,
    }
    assert listed_ids(client.get(LIST_URL, {"school": other_world.school.pk})) == []
    assert listed_ids(client.get(LIST_URL, {"teacher": world.teacher.pk})) == [world.session.pk]
    assert set(listed_ids(client.get(LIST_URL, {"student": world.other_student.pk}))) == {
        world.other_session.pk,
        group.pk,
    }
    assert listed_ids(client.get(LIST_URL, {"subject": subject.pk})) == [group.pk]
    assert listed_ids(client.get(LIST_URL, {"teacher": world.other_teacher.pk, "student": world.student.pk})) == [
        group.pk
    ]


def test_filters_naming_another_schools_objects_match_nothing(world, other_world, client_as):
    client = client_as("owner")

    for name, value in [
        ("teacher", other_world.teacher.pk),
        ("student", other_world.student.pk),
        ("subject", other_world.session.subject_id),
        ("school", 999_999),
    ]:
        body = client.get(LIST_URL, {name: value}).json()
        assert body["count"] == 0
        assert body["results"] == []


def test_filters_by_one_or_several_statuses(world, client_as):
    world.other_session.status = "cancelled"
    world.other_session.save(update_fields=["status"])
    client = client_as("admin")

    assert listed_ids(client.get(LIST_URL, {"status": "cancelled"})) == [world.other_session.pk]
    assert set(listed_ids(client.get(LIST_URL, {"status": "scheduled, cancelled"}))) == {
        world.session.pk,
        world.other_session.pk,
    }
    assert set(listed_ids(client.get(f"{LIST_URL}?status=scheduled&status=cancelled"))) == {
        world.session.pk,
        world.other_session.pk,
    }
    assert listed_ids(client.get(LIST_URL, {"status": "completed,no_show"})) == []


def test_date_bounds_are_from_inclusive_to_exclusive(world, client_as, timetable):
    client = client_as("teacher")

    ids = listed_ids(client.get(LIST_URL, {"from": "2025-01-01", "to": "2025-01-02"}))

    assert ids == [timetable["jan1"].pk, timetable["jan1_late"].pk]
    assert listed_ids(client.get(LIST_URL, {"from": "2025-01-02", "to": "2025-01-03"})) == [timetable["jan2"].pk]


def test_date_time_bounds_apply_as_given(world, client_as, timetable):
    client = client_as("teacher")

    ids = listed_ids(client.get(LIST_URL, {"from": "2025-01-01T09:00:00Z", "to": "2025-01-02T10:00:00+00:00"}))

    assert ids == [timetable["jan1"].pk, timetable["jan1_late"].pk]
    # An unencoded "+" arrives as a space; it still means an offset.
    ids = listed_ids(client.get(f"{LIST_URL}?from=2025-01-02T11:00:00+01:00"))
    assert ids[:2] == [timetable["jan2"].pk, timetable["jan3"].pk]


def test_open_ended_ranges(world, client_as, timetable):
    client = client_as("teacher")

    assert listed_ids(client.get(LIST_URL, {"to": "2025-01-02"})) == [timetable["jan1"].pk, timetable["jan1_late"].pk]
    assert listed_ids(client.get(LIST_URL, {"from": "2025-01-03", "to": "2025-01-10"})) == [timetable["jan3"].pk]


def test_a_date_is_read_in_each_schools_time_zone(world, other_world):
    # 20:00 UTC on 1 January is still 1 January in Lisbon but already 2 January in Tokyo.
    owner = world.owner
    f.member(school=other_world.school, role=Role.OWNER, user=owner)
    subject_lisbon, subject_tokyo = world.session.subject, other_world.session.subject
    lisbon = f.session_for(world.teacher, world.student, subject=subject_lisbon, starts_at=at("2025-01-01T20:00:00Z"))
    tokyo = f.session_for(
        other_world.teacher, other_world.student, subject=subject_tokyo, starts_at=at("2025-01-01T20:00:00Z")
    )
    client = client_for(owner)

    assert listed_ids(client.get(LIST_URL, {"from": "2025-01-01", "to": "2025-01-02"})) == [lisbon.pk]
    assert listed_ids(client.get(LIST_URL, {"from": "2025-01-02", "to": "2025-01-03"})) == [tokyo.pk]
    assert listed_ids(client.get(LIST_URL, {"school": other_world.school.pk, "to": "2025-01-02"})) == []


def test_ordering(world, client_as, timetable):
    client = client_as("teacher")
    chronological = [timetable[key].pk for key in ("jan1", "jan1_late", "jan2", "jan3")]

    ascending = listed_ids(client.get(LIST_URL, {"to": "2025-01-04"}))
    descending = listed_ids(client.get(LIST_URL, {"to": "2025-01-04", "ordering": "-starts_at"}))

    assert ascending == chronological
    assert descending == chronological[::-1]


def test_a_range_of_366_days_is_allowed(world, client_as):
    response = client_as("owner").get(LIST_URL, {"from": "2024-01-01", "to": "2025-01-01"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"school": "abc"}, "school"),
        ({"school": "0"}, "school"),
        ({"teacher": "-3"}, "teacher"),
        ({"student": "1.5"}, "student"),
        ({"subject": str(2**64)}, "subject"),
        ({"status": "done"}, "status"),
        ({"status": "scheduled,done"}, "status"),
        ({"status": ","}, "status"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2025-02-30"}, "from"),
        ({"from": "2025-01-01T10:00:00"}, "from"),
        ({"to": "2025-13-01T10:00:00Z"}, "to"),
        ({"from": "0001-01-01"}, "from"),
        ({"to": "9999-12-31T23:59:59+00:00"}, "to"),
        ({"from": "2025-01-02", "to": "2025-01-01"}, "to"),
        ({"from": "2025-01-01", "to": "2025-01-01"}, "to"),
        ({"from": "2024-01-01", "to": "2025-01-02"}, "to"),
        ({"from": "2024-01-01T00:00:00Z", "to": "2025-01-01T00:00:01Z"}, "to"),
        ({"ordering": "teacher"}, "ordering"),
    ],
)
def test_invalid_filters_answer_400_naming_the_parameter(world, client_as, params, field):
    response = client_as("owner").get(LIST_URL, params)

    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert body["code"] == "invalid"
    assert list(body["fields"]) == [field]


def test_range_errors_say_what_is_wrong(world, client_as):
    client = client_as("owner")

    too_long = client.get(LIST_URL, {"from": "2024-01-01", "to": "2025-06-01"}).json()
    empty = client.get(LIST_URL, {"from": "2025-01-02", "to": "2025-01-01"}).json()

    assert too_long["fields"] == {"to": [RANGE_TOO_LONG]}
    assert empty["fields"] == {"to": [RANGE_EMPTY]}


def test_a_date_filter_on_a_school_one_is_not_a_member_of_matches_nothing(world, other_world, client_as):
    body = client_as("owner").get(LIST_URL, {"school": other_world.school.pk, "from": "2020-01-01"}).json()

    assert (body["count"], body["results"]) == (0, [])
