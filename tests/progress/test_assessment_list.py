from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from chalkboard.schools.models import Role
from tests import factories as f
from tests.conftest import client_for
from tests.progress.conftest import stored, user_for

pytestmark = pytest.mark.django_db

URL = "/api/assessments/"


def ids(response):
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}


@pytest.fixture
def rows(world, other_world):
    """One assessment per student of each school."""
    subject, other_subject = world.session.subject, other_world.session.subject
    return {
        "mine": stored(world.student, subject, world.teacher).pk,
        "theirs": stored(world.other_student, subject, world.other_teacher).pk,
        "abroad": stored(other_world.student, other_subject, other_world.teacher).pk,
    }


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", {"mine", "theirs"}),
        ("admin", {"mine", "theirs"}),
        ("teacher", {"mine"}),
        ("other_teacher", {"theirs"}),
        ("student", {"mine"}),
        ("other_student", {"theirs"}),
        ("guardian", {"mine"}),
        ("other_guardian", {"theirs"}),
        ("other_world_owner", {"abroad"}),
        ("other_world_teacher", {"abroad"}),
    ],
)
def test_each_role_sees_only_its_assessments(world, other_world, rows, role, expected):
    response = client_for(user_for(world, other_world, role)).get(URL)

    assert ids(response) == {rows[name] for name in expected}
    assert response.json()["count"] == len(expected)


def test_anonymous_is_refused(rows):
    assert client_for(None).get(URL).status_code == 401


def test_a_member_without_a_role_that_sees_assessments_gets_an_empty_list(world, rows):
    user = f.UserFactory()

    assert ids(client_for(user).get(URL)) == set()


def test_a_teacher_sees_the_assessments_in_their_name_and_of_all_their_students(world, rows):
    # another teacher assessed a pupil of world.teacher: visible to world.teacher
    by_colleague = stored(world.student, world.session.subject, world.other_teacher).pk
    # staff recorded, in world.teacher's name, a student world.teacher does not teach
    in_my_name = stored(world.other_student, world.session.subject, world.teacher).pk

    assert ids(client_for(world.teacher.user).get(URL)) == {rows["mine"], by_colleague, in_my_name}


def test_a_teacher_in_two_schools_sees_each_school_scoped(world, other_world, rows):
    f.teacher_in(other_world.school, user=world.teacher.user)
    f.session_for(world.teacher, other_world.other_student, subject=other_world.session.subject)
    pupil_abroad = stored(other_world.other_student, other_world.session.subject, other_world.other_teacher).pk

    assert ids(client_for(world.teacher.user).get(URL)) == {rows["mine"], pupil_abroad}


def test_an_inactive_membership_sees_nothing(world, rows):
    world.owner.memberships.update(is_active=False)

    assert ids(client_for(world.owner).get(URL)) == set()


def test_filters(world, rows):
    other_subject = f.SubjectFactory(school=world.school)
    maths = stored(world.student, other_subject, world.other_teacher).pk
    owner = client_for(world.owner)

    assert ids(owner.get(URL, {"student_id": world.student.pk})) == {rows["mine"], maths}
    assert ids(owner.get(URL, {"subject_id": other_subject.pk})) == {maths}
    assert ids(owner.get(URL, {"teacher_id": world.other_teacher.pk})) == {rows["theirs"], maths}
    assert ids(owner.get(URL, {"student_id": world.student.pk, "teacher_id": world.teacher.pk})) == {rows["mine"]}


def test_filtering_on_another_schools_ids_leaks_nothing(world, other_world, rows):
    owner = client_for(world.owner)

    assert ids(owner.get(URL, {"student_id": other_world.student.pk})) == set()
    assert ids(owner.get(URL, {"teacher_id": other_world.teacher.pk})) == set()


@pytest.mark.parametrize(
    "params",
    [
        {"student_id": "abc"},
        {"subject_id": "-1"},
        {"teacher_id": str(10**30)},
        {"from": "last week"},
        {"to": "2026-02-30"},
        {"from": "2026-01-01T10:00:00"},
    ],
)
def test_malformed_filters_are_refused(world, params):
    response = client_for(world.owner).get(URL, params)

    assert response.status_code == 400
    assert set(response.json()["fields"]) == set(params)


def test_newest_first_and_paginated(world):
    now = timezone.now()
    created = [
        stored(world.student, world.session.subject, world.teacher, assessed_at=now - timedelta(hours=n)).pk
        for n in range(1, 6)
    ]
    owner = client_for(world.owner)

    first = owner.get(URL, {"page_size": 2}).json()
    last = owner.get(URL, {"page_size": 2, "page": 3}).json()

    assert first["count"] == 5
    assert [item["id"] for item in first["results"]] == created[:2]
    assert first["next"]
    assert first["previous"] is None
    assert [item["id"] for item in last["results"]] == created[4:]
    assert owner.get(URL, {"page": 9}).status_code == 404


def test_from_and_to_as_times(world):
    base = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    early = stored(world.student, world.session.subject, world.teacher, assessed_at=base).pk
    late = stored(world.student, world.session.subject, world.teacher, assessed_at=base + timedelta(hours=2)).pk
    owner = client_for(world.owner)

    assert ids(owner.get(URL, {"from": "2025-03-10T13:00:00+00:00"})) == {late}
    assert ids(owner.get(URL, {"to": "2025-03-10T13:00:00Z"})) == {early}
    assert ids(owner.get(URL, {"from": "2025-03-10T12:00:00Z", "to": "2025-03-10T14:00:00Z"})) == {early, late}


def test_days_are_whole_days_in_each_schools_time_zone(world, other_world):
    # one owner of two schools: Lisbon (UTC+0 in March) and Tokyo (UTC+9)
    f.member(school=other_world.school, role=Role.OWNER, user=world.owner)
    moment = datetime(2025, 3, 10, 20, 0, tzinfo=UTC)  # 20:00 on the 10th in Lisbon, 05:00 on the 11th in Tokyo
    lisbon = stored(world.student, world.session.subject, world.teacher, assessed_at=moment).pk
    tokyo = stored(other_world.student, other_world.session.subject, other_world.teacher, assessed_at=moment).pk
    owner = client_for(world.owner)

    assert ids(owner.get(URL, {"from": "2025-03-10", "to": "2025-03-10"})) == {lisbon}
    assert ids(owner.get(URL, {"from": "2025-03-11", "to": "2025-03-11"})) == {tokyo}
    assert ids(owner.get(URL, {"from": "2025-03-11"})) == {tokyo}
    assert ids(owner.get(URL, {"to": "2025-03-10"})) == {lisbon}


def test_day_filters_for_someone_without_a_school_find_nothing(world, rows):
    assert ids(client_for(f.UserFactory()).get(URL, {"from": "2020-01-01", "to": "2030-01-01"})) == set()


# token, [wards], [schools' time zones for day filters], count, page (the roles come from the cache)
@pytest.mark.parametrize(
    ("role", "params", "queries"),
    [
        ("owner", {}, 3),
        ("teacher", {"student_id": 1}, 3),
        ("guardian", {}, 4),
        ("owner", {"from": "2000-01-01", "to": "2100-01-01"}, 4),
    ],
)
def test_query_count_does_not_grow_with_rows(world, role, params, queries, django_assert_num_queries):
    client = client_for(world.user(role))
    skill = f.SkillFactory(subject=world.session.subject)
    params = {**params, "student_id": world.student.pk} if "student_id" in params else params
    assert client.get(URL).status_code == 200  # the viewer's roles are now cached, as in steady use

    for rows in (3, 6):
        while world.student.assessments.count() < rows:
            stored(world.student, world.session.subject, world.teacher, skill=skill)
        with django_assert_num_queries(queries):
            response = client.get(URL, params)
        assert response.json()["count"] == rows
        assert len(response.json()["results"]) == rows
