from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from chalkboard.activity.models import ActivityLog
from chalkboard.progress.models import ProgressAssessment
from chalkboard.schools.models import Skill, Subject
from tests import factories as f
from tests.conftest import client_for
from tests.schools.helpers import AUTH_QUERIES, NON_STAFF_MEMBERS, ROLES, ids, statuses

pytestmark = pytest.mark.django_db

SUBJECTS = "/api/subjects/"


def subject_url(subject):
    return f"{SUBJECTS}{subject.pk}/"


def skills_url(subject):
    return f"{SUBJECTS}{subject.pk}/skills/"


@pytest.fixture
def algebra(world):
    subject = f.SubjectFactory(school=world.school, name="Algebra")
    f.SkillFactory(subject=subject, name="Fractions")
    f.SkillFactory(subject=subject, name="Equations")
    return subject


# --- list ------------------------------------------------------------------------------------------


def test_every_member_reads_their_schools_subjects_and_nothing_else(world, other_world, algebra):
    mine = set(Subject.objects.filter(school=world.school).values_list("id", flat=True))
    theirs = set(Subject.objects.filter(school=other_world.school).values_list("id", flat=True))

    for role in ROLES[:-2]:
        assert set(ids(client_for(world.user(role)).get(SUBJECTS))) == mine, role
    assert set(ids(client_for(other_world.owner).get(SUBJECTS))) == theirs
    assert client_for(None).get(SUBJECTS).status_code == 401


def test_list_shows_skills_in_name_order(world, algebra):
    rows = client_for(world.student.user).get(SUBJECTS, {"school": world.school.pk}).json()["results"]

    row = next(row for row in rows if row["id"] == algebra.pk)
    assert row["school_id"] == world.school.pk
    assert row["name"] == "Algebra"
    assert [skill["name"] for skill in row["skills"]] == ["Equations", "Fractions"]
    assert set(row["skills"][0]) == {"id", "name"}


def test_filter_by_a_school_i_do_not_belong_to_shows_nothing(world, other_world):
    assert ids(client_for(world.owner).get(SUBJECTS, {"school": other_world.school.pk})) == []


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", str(2**64)])
def test_filter_rejects_a_school_that_is_not_an_id(world, value):
    response = client_for(world.owner).get(SUBJECTS, {"school": value})

    assert response.status_code == 400
    assert "school" in response.json()["fields"]


def test_list_query_count_does_not_grow_with_subjects(django_assert_num_queries):
    school = f.SchoolFactory()
    client = client_for(f.teacher_in(school).user)
    for count in (3, 6):
        while Subject.objects.filter(school=school).count() < count:
            subject = f.SubjectFactory(school=school)
            f.SkillFactory(subject=subject)
            f.SkillFactory(subject=subject)
        cache.clear()  # each measurement builds the viewer\'s roles too
        with django_assert_num_queries(AUTH_QUERIES + 3):  # count, page, skills
            assert len(ids(client.get(SUBJECTS))) == count


# --- create ----------------------------------------------------------------------------------------


def test_create_by_role(world, other_world):
    names = (f"Course {n}" for n in itertools.count())
    table = statuses(
        world, other_world, lambda c: c.post(SUBJECTS, {"school_id": world.school.pk, "name": next(names)})
    )

    assert table == {
        **dict.fromkeys(NON_STAFF_MEMBERS, 403),
        "owner": 201,
        "admin": 201,
        "outsider": 400,  # a school they do not belong to is unknown to them
        "anonymous": 401,
    }
    created = Subject.objects.filter(name__startswith="Course ")
    assert sorted(created.values_list("school_id", "name")) == [
        (world.school.pk, "Course 0"),
        (world.school.pk, "Course 1"),
    ]


def test_admin_creates_a_subject_with_skills(world):
    response = client_for(world.admin).post(
        SUBJECTS,
        {"school_id": world.school.pk, "name": "  Physics ", "skills": ["Optics", " optics", "Mechanics"]},
    )

    assert response.status_code == 201
    body = response.json()
    subject = Subject.objects.get(pk=body["id"])
    assert (subject.name, subject.school) == ("Physics", world.school)
    assert [skill["name"] for skill in body["skills"]] == ["Mechanics", "Optics"]
    assert ActivityLog.objects.filter(verb="subject.created", object_id=subject.pk, actor=world.admin).exists()


def test_a_subject_name_is_unique_in_a_school_whatever_its_case(world, other_world, algebra):
    client = client_for(world.owner)

    taken = client.post(SUBJECTS, {"school_id": world.school.pk, "name": "ALGEBRA"})
    elsewhere = client_for(other_world.owner).post(SUBJECTS, {"school_id": other_world.school.pk, "name": "Algebra"})

    assert taken.status_code == 400
    assert "name" in taken.json()["fields"]
    assert list(Subject.objects.filter(school=world.school, name__iexact="algebra").values_list("pk", flat=True)) == [
        algebra.pk
    ]
    assert elsewhere.status_code == 201
    assert Subject.objects.get(pk=elsewhere.json()["id"]).school == other_world.school


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"school_id": "abc", "name": "X"}, "school_id"),
        ({"school_id": 10**30, "name": "X"}, "school_id"),
        ({"school_id": 999_999, "name": "X"}, "school_id"),
        ({"school_id": None, "name": "X"}, "school_id"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "X", "skills": "Optics"}, "skills"),
        ({"name": "X", "skills": ["x" * 101]}, "skills"),
        ({"name": "X", "skills": [" "]}, "skills"),
        ({"name": "X", "skills": ["s"] * 101}, "skills"),
    ],
)
def test_create_rejects_bad_input(world, payload, field):
    before = Subject.objects.count()

    response = client_for(world.owner).post(SUBJECTS, {"school_id": world.school.pk, **payload})

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert Subject.objects.count() == before


def test_create_needs_a_school(world):
    response = client_for(world.owner).post(SUBJECTS, {"name": "X"})

    assert response.status_code == 400
    assert response.json()["fields"] == {"school_id": ["This field is required."]}
    assert not Subject.objects.filter(name="X").exists()


# --- retrieve / update / delete --------------------------------------------------------------------


def test_retrieve_by_role(world, other_world, algebra):
    table = statuses(world, other_world, lambda c: c.get(subject_url(algebra)))

    assert table == {**dict.fromkeys(ROLES, 200), "outsider": 404, "anonymous": 401}


def test_update_by_role(world, other_world, algebra):
    names = (f"Algebra {n}" for n in itertools.count())
    table = statuses(world, other_world, lambda c: c.patch(subject_url(algebra), {"name": next(names)}))

    assert table == {
        **dict.fromkeys(NON_STAFF_MEMBERS, 403),
        "owner": 200,
        "admin": 200,
        "outsider": 404,
        "anonymous": 401,
    }
    algebra.refresh_from_db()
    assert algebra.name == "Algebra 1"  # the admin's, the last one let in


def test_rename_a_subject(world, algebra):
    response = client_for(world.admin).patch(subject_url(algebra), {"name": "Linear Algebra"})

    assert response.status_code == 200
    assert response.json()["name"] == "Linear Algebra"
    assert len(response.json()["skills"]) == 2
    log = ActivityLog.objects.get(verb="subject.updated")
    assert log.data == {"name": "Linear Algebra", "previous_name": "Algebra"}


def test_renaming_to_the_same_name_or_nothing_changes_nothing(world, algebra):
    client = client_for(world.admin)

    assert client.patch(subject_url(algebra), {"name": "Algebra"}).status_code == 200
    assert client.patch(subject_url(algebra), {}).status_code == 200
    assert not ActivityLog.objects.filter(verb="subject.updated").exists()
    algebra.refresh_from_db()
    assert algebra.name == "Algebra"


def test_rename_to_a_taken_name_is_refused(world, algebra):
    f.SubjectFactory(school=world.school, name="Geometry")

    response = client_for(world.admin).patch(subject_url(algebra), {"name": "geometry"})

    assert response.status_code == 400
    assert "name" in response.json()["fields"]
    algebra.refresh_from_db()
    assert algebra.name == "Algebra"
    assert not ActivityLog.objects.filter(verb="subject.updated").exists()


def test_delete_by_role(world, other_world, algebra):
    table = statuses(world, other_world, lambda c: c.delete(subject_url(algebra)), [*ROLES[2:], "admin"])

    assert table == {
        **dict.fromkeys(NON_STAFF_MEMBERS, 403),
        "admin": 204,
        "outsider": 404,
        "anonymous": 401,
    }
    assert not Subject.objects.filter(pk=algebra.pk).exists()
    assert ActivityLog.objects.filter(verb="subject.deleted", object_id=algebra.pk).exists()


def test_a_subject_with_sessions_is_not_deleted(world):
    response = client_for(world.owner).delete(subject_url(world.session.subject))

    assert response.status_code == 409
    assert Subject.objects.filter(pk=world.session.subject_id).exists()
    assert not ActivityLog.objects.filter(verb="subject.deleted").exists()


def test_a_subject_with_assessments_is_not_deleted(world, algebra):
    ProgressAssessment.objects.create(
        school=world.school,
        student=world.student,
        subject=algebra,
        teacher=world.teacher,
        kind="quiz",
        score=Decimal("5"),
        max_score=Decimal("10"),
        percentage=Decimal("50"),
        assessed_at=timezone.now(),
    )

    response = client_for(world.owner).delete(subject_url(algebra))

    assert response.status_code == 409
    assert Subject.objects.filter(pk=algebra.pk).exists()
    assert algebra.skills.count() == 2
    assert not ActivityLog.objects.filter(verb="subject.deleted").exists()


# --- skills ----------------------------------------------------------------------------------------


def test_add_skill_by_role(world, other_world, algebra):
    names = (f"Skill {n}" for n in itertools.count())
    table = statuses(world, other_world, lambda c: c.post(skills_url(algebra), {"name": next(names)}))

    assert table == {
        **dict.fromkeys(NON_STAFF_MEMBERS, 403),
        "owner": 201,
        "admin": 201,
        "outsider": 404,
        "anonymous": 401,
    }
    assert sorted(algebra.skills.values_list("name", flat=True)) == ["Equations", "Fractions", "Skill 0", "Skill 1"]


def test_add_a_skill(world, algebra):
    response = client_for(world.admin).post(skills_url(algebra), {"name": " Inequalities "})

    assert response.status_code == 201
    skill = Skill.objects.get(pk=response.json()["id"])
    assert response.json() == {"id": skill.pk, "name": "Inequalities", "subject_id": algebra.pk}
    assert ActivityLog.objects.get(verb="skill.created").data == {"subject_id": algebra.pk, "name": "Inequalities"}


@pytest.mark.parametrize("name", ["fractions", "", "x" * 101])
def test_add_skill_rejects_bad_or_taken_names(world, algebra, name):
    response = client_for(world.admin).post(skills_url(algebra), {"name": name})

    assert response.status_code == 400
    assert "name" in response.json()["fields"]
    assert sorted(algebra.skills.values_list("name", flat=True)) == ["Equations", "Fractions"]
