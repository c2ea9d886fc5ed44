from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from chalkboard.activity.models import ActivityLog
from chalkboard.common.cache import student_scope, versions_get
from chalkboard.common.errors import Forbidden, ValidationFailed
from chalkboard.progress.models import ProgressGoal
from chalkboard.progress.services import goal_create, goal_delete, goal_update
from chalkboard.realtime.models import Event, EventType
from tests import factories as f
from tests.conftest import client_for
from tests.progress.conftest import user_for, viewer

pytestmark = pytest.mark.django_db


def goals_url(student):
    return f"/api/students/{student.pk}/goals/"


def goal_url(goal):
    return f"/api/goals/{goal if isinstance(goal, int) else goal.pk}/"


def payload(world, **overrides):
    data = {"subject_id": world.session.subject_id, "title": "Algebra at 80%", "target_percentage": "80"}
    data.update(overrides)
    return data


@pytest.fixture
def goal(world):
    return ProgressGoal.objects.create(
        student=world.student, subject=world.session.subject, title="Read more", target_percentage=Decimal(70)
    )


def assert_invalid(response, field):
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]


# --- Create and list. --------------------------------------------------------------------------------


def test_a_teacher_sets_a_goal_for_their_student(world):
    skill = f.SkillFactory(subject=world.session.subject, name="Equations")

    response = client_for(world.teacher.user).post(
        goals_url(world.student),
        payload(world, skill_id=skill.pk, due_date="2026-06-30", title="  Algebra at 80%  "),
        format="json",
    )

    assert response.status_code == 201, response.content
    stored = ProgressGoal.objects.get()
    assert response.json() == {
        "id": stored.pk,
        "student_id": world.student.pk,
        "subject": {"id": world.session.subject_id, "name": world.session.subject.name},
        "skill": {"id": skill.pk, "name": "Equations"},
        "title": "Algebra at 80%",
        "target_percentage": "80.00",
        "due_date": "2026-06-30",
        "achieved_at": None,
        "created_at": response.json()["created_at"],
        "updated_at": response.json()["updated_at"],
    }
    assert stored.created_by == world.teacher.user


def test_a_goal_write_records_activity_and_a_progress_event(world):
    response = client_for(world.teacher.user).post(goals_url(world.student), payload(world), format="json")

    event = Event.objects.get(type=EventType.PROGRESS_UPDATED)
    assert event.data == {
        "student_id": world.student.pk,
        "subject_id": world.session.subject_id,
        "goal_id": response.json()["id"],
    }
    assert event.teacher_id == world.teacher.pk
    assert event.school_id == world.school.pk
    log = ActivityLog.objects.get(verb="goal.created")
    assert (log.actor_id, log.object_id, log.teacher_id) == (
        world.teacher.user.pk,
        response.json()["id"],
        world.teacher.pk,
    )


def test_a_goal_set_by_staff_names_no_teacher(world):
    client_for(world.admin).post(goals_url(world.student), payload(world), format="json")

    assert Event.objects.get(type=EventType.PROGRESS_UPDATED).teacher_id is None


def test_goal_writes_bump_the_students_page(world, django_capture_on_commit_callbacks):
    before = versions_get([student_scope(world.student.pk)])
    with django_capture_on_commit_callbacks(execute=True):
        client_for(world.owner).post(goals_url(world.student), payload(world), format="json")

    after = versions_get([student_scope(world.student.pk)])
    assert after[student_scope(world.student.pk)] == before[student_scope(world.student.pk)] + 1


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", 201),
        ("admin", 201),
        ("teacher", 201),
        ("other_teacher", 404),
        ("student", 403),
        ("other_student", 404),
        ("guardian", 403),
        ("other_guardian", 404),
        ("other_world_owner", 404),
        ("other_world_teacher", 404),
        ("anonymous", 401),
    ],
)
def test_who_may_set_a_goal(world, other_world, role, expected):
    response = client_for(user_for(world, other_world, role)).post(
        goals_url(world.student), payload(world), format="json"
    )

    assert response.status_code == expected
    assert ProgressGoal.objects.count() == (1 if expected == 201 else 0)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", 200),
        ("admin", 200),
        ("teacher", 200),
        ("other_teacher", 404),
        ("student", 403),
        ("other_student", 404),
        ("guardian", 403),
        ("other_guardian", 404),
        ("other_world_owner", 404),
        ("other_world_teacher", 404),
        ("anonymous", 401),
    ],
)
def test_who_may_list_goals(world, other_world, goal, role, expected):
    response = client_for(user_for(world, other_world, role)).get(goals_url(world.student))

    assert response.status_code == expected
    if expected == 200:
        assert [item["id"] for item in response.json()["results"]] == [goal.pk]


def test_goals_are_listed_by_due_date_in_a_fixed_number_of_queries(world, django_assert_num_queries):
    client = client_for(world.teacher.user)
    subject = world.session.subject
    skill = f.SkillFactory(subject=subject)
    today = timezone.localdate()

    def add(n):
        for day in range(n):
            ProgressGoal.objects.create(
                student=world.student,
                subject=subject,
                skill=skill,
                title=f"Goal {day}",
                target_percentage=Decimal(50),
                due_date=today + timedelta(days=10 - day),
            )

    assert client.get(goals_url(world.student)).status_code == 200  # the roles are now cached, as in steady use
    add(3)
    # token, student, teaches the student, count, page
    with django_assert_num_queries(5):
        three = client.get(goals_url(world.student)).json()
    add(3)
    ProgressGoal.objects.create(student=world.student, subject=subject, title="Someday", target_percentage=Decimal(50))
    with django_assert_num_queries(5):
        seven = client.get(goals_url(world.student)).json()

    assert three["count"] == 3
    assert seven["count"] == 7
    dates = [item["due_date"] for item in seven["results"]]
    assert dates[-1] is None
    assert dates[:-1] == sorted(dates[:-1])


def test_goals_of_another_student_are_not_listed(world, goal):
    ProgressGoal.objects.create(
        student=world.other_student, subject=world.session.subject, title="Theirs", target_percentage=Decimal(50)
    )

    results = client_for(world.owner).get(goals_url(world.student)).json()["results"]

    assert [item["id"] for item in results] == [goal.pk]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"target_percentage": "0"}, "target_percentage"),
        ({"target_percentage": "100.01"}, "target_percentage"),
        ({"target_percentage": "-3"}, "target_percentage"),
        ({"target_percentage": "50.555"}, "target_percentage"),
        ({"target_percentage": "lots"}, "target_percentage"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"subject_id": 999_999}, "subject_id"),
        ({"subject_id": "maths"}, "subject_id"),
        ({"skill_id": 999_999}, "skill_id"),
        ({"due_date": "2026-02-30"}, "due_date"),
        ({"achieved_at": "2999-01-01T00:00:00Z"}, "achieved_at"),
        ({"achieved_at": "2025-01-01T00:00:00"}, "achieved_at"),
    ],
)
def test_invalid_goals_are_refused_naming_the_field(world, overrides, field):
    assert_invalid(
        client_for(world.owner).post(goals_url(world.student), payload(world, **overrides), format="json"), field
    )
    assert not ProgressGoal.objects.exists()


def test_the_subject_and_skill_must_be_of_the_students_school(world, other_world):
    client = client_for(world.owner)
    foreign_skill = f.SkillFactory(subject=other_world.session.subject)
    skill_of_other_subject = f.SkillFactory(subject=f.SubjectFactory(school=world.school))

    assert_invalid(
        client.post(goals_url(world.student), payload(world, subject_id=other_world.session.subject_id), format="json"),
        "subject_id",
    )
    assert_invalid(
        client.post(goals_url(world.student), payload(world, skill_id=foreign_skill.pk), format="json"), "skill_id"
    )
    assert_invalid(
        client.post(goals_url(world.student), payload(world, skill_id=skill_of_other_subject.pk), format="json"),
        "skill_id",
    )


# --- Read, change, remove one goal. ---------------------------------------------------------------


PER_GOAL_ROLES = [
    ("owner", "ok"),
    ("admin", "ok"),
    ("teacher", "ok"),
    ("other_teacher", 404),
    ("student", 403),
    ("other_student", 404),
    ("guardian", 403),
    ("other_guardian", 404),
    ("other_world_owner", 404),
    ("other_world_teacher", 404),
    ("anonymous", 401),
]


@pytest.mark.parametrize(("role", "expected"), PER_GOAL_ROLES)
def test_who_may_read_a_goal(world, other_world, goal, role, expected):
    response = client_for(user_for(world, other_world, role)).get(goal_url(goal))

    assert response.status_code == (200 if expected == "ok" else expected)


@pytest.mark.parametrize(("role", "expected"), PER_GOAL_ROLES)
def test_who_may_change_a_goal(world, other_world, goal, role, expected):
    response = client_for(user_for(world, other_world, role)).patch(
        goal_url(goal), {"title": "Read daily"}, format="json"
    )

    assert response.status_code == (200 if expected == "ok" else expected)
    goal.refresh_from_db()
    assert goal.title == ("Read daily" if expected == "ok" else "Read more")


@pytest.mark.parametrize(("role", "expected"), PER_GOAL_ROLES)
def test_who_may_remove_a_goal(world, other_world, goal, role, expected):
    response = client_for(user_for(world, other_world, role)).delete(goal_url(goal))

    assert response.status_code == (204 if expected == "ok" else expected)
    assert ProgressGoal.objects.filter(pk=goal.pk).exists() == (expected != "ok")


def test_unknown_and_huge_goal_ids_are_not_found(world):
    client = client_for(world.owner)

    assert client.get(goal_url(999_999)).status_code == 404
    assert client.patch(goal_url(10**30), {"title": "x"}, format="json").status_code == 404


def test_changing_a_goal_changes_only_what_is_sent(world, goal):
    response = client_for(world.teacher.user).patch(
        goal_url(goal), {"achieved_at": "2026-01-05T10:00:00+01:00", "target_percentage": "75.5"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["achieved_at"] == "2026-01-05T09:00:00Z"
    assert body["target_percentage"] == "75.50"
    assert body["title"] == "Read more"
    goal.refresh_from_db()
    assert (goal.achieved_at.isoformat(), goal.target_percentage, goal.title) == (
        "2026-01-05T09:00:00+00:00",
        Decimal("75.50"),
        "Read more",
    )
    event = Event.objects.get(type=EventType.PROGRESS_UPDATED)
    assert event.data["goal_id"] == goal.pk
    assert ActivityLog.objects.filter(verb="goal.updated", object_id=goal.pk).exists()


def test_achieved_at_can_be_cleared(world, goal):
    goal.achieved_at = timezone.now()
    goal.save()

    response = client_for(world.owner).patch(goal_url(goal), {"achieved_at": None}, format="json")

    assert response.json()["achieved_at"] is None
    goal.refresh_from_db()
    assert goal.achieved_at is None


def test_moving_a_goal_to_another_subject_checks_its_skill(world, goal):
    skill = f.SkillFactory(subject=world.session.subject)
    goal.skill = skill
    goal.save()
    music = f.SubjectFactory(school=world.school)
    client = client_for(world.owner)

    assert_invalid(client.patch(goal_url(goal), {"subject_id": music.pk}, format="json"), "skill_id")
    goal.refresh_from_db()
    assert (goal.subject_id, goal.skill_id) == (world.session.subject_id, skill.pk)
    moved = client.patch(goal_url(goal), {"subject_id": music.pk, "skill_id": None}, format="json")

    assert moved.status_code == 200
    assert moved.json()["subject"]["id"] == music.pk
    assert moved.json()["skill"] is None
    goal.refresh_from_db()
    assert (goal.subject_id, goal.skill_id) == (music.pk, None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target_percentage": "0"}, "target_percentage"),
        ({"title": " "}, "title"),
        ({"subject_id": None}, "subject_id"),
    ],
)
def test_invalid_changes_are_refused(world, goal, change, field):
    assert_invalid(client_for(world.owner).patch(goal_url(goal), change, format="json"), field)
    goal.refresh_from_db()
    assert (goal.title, goal.target_percentage, goal.subject_id) == (
        "Read more",
        Decimal(70),
        world.session.subject_id,
    )
    assert not Event.objects.exists()


def test_removing_a_goal_records_it(world, goal):
    goal_id = goal.pk

    client_for(world.teacher.user).delete(goal_url(goal))

    assert Event.objects.get(type=EventType.PROGRESS_UPDATED).data == {
        "student_id": world.student.pk,
        "subject_id": world.session.subject_id,
        "goal_id": goal_id,
    }
    assert ActivityLog.objects.filter(verb="goal.deleted", object_id=goal_id).exists()


def test_the_services_refuse_who_may_not_manage(world, goal):
    family = viewer(world.guardian)
    fields = {"subject_id": world.session.subject_id, "title": "x", "target_percentage": Decimal(10)}

    with pytest.raises(Forbidden):
        goal_create(viewer=family, student=world.student, fields=fields)
    with pytest.raises(Forbidden):
        goal_update(viewer=family, goal=goal, fields={"title": "y"})
    with pytest.raises(Forbidden):
        goal_delete(viewer=family, goal=goal)
    assert ProgressGoal.objects.get() == goal


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"target_percentage": Decimal(0)}, "target_percentage"),
        ({"target_percentage": Decimal("100.5")}, "target_percentage"),
    ],
)
def test_the_goal_services_check_what_the_api_also_checks(world, goal, fields, field):
    staff = viewer(world.owner)
    base = {"subject_id": world.session.subject_id, "title": "x", "target_percentage": Decimal(10)}

    with pytest.raises(ValidationFailed) as created:
        goal_create(viewer=staff, student=world.student, fields={**base, **fields})
    with pytest.raises(ValidationFailed) as updated:
        goal_update(viewer=staff, goal=goal, fields=fields)

    assert field in created.value.fields
    assert field in updated.value.fields
    goal.refresh_from_db()
    assert goal.title == "Read more"
