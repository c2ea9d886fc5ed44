from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.core.cache import cache

from chalkboard.accounts.models import User
from chalkboard.activity.models import ActivityLog
from chalkboard.invitations.models import Invitation
from chalkboard.people.models import SchoolTeacher, Teacher, TeacherRate
from chalkboard.schools.models import Membership, Role
from tests import factories as f
from tests.conftest import client_for
from tests.schools.helpers import AUTH_QUERIES, ROLES, accept_invitation, ids, statuses, user_for

pytestmark = pytest.mark.django_db

TEACHERS = "/api/teachers/"


def teacher_url(teacher, **query):
    suffix = "".join(f"?{key}={value}" for key, value in query.items())
    return f"{TEACHERS}{teacher.pk}/{suffix}"


def rate(teacher, school, subject=None, is_group=False):
    return TeacherRate.objects.get(teacher=teacher, school=school, subject=subject, is_group=is_group).hourly_rate


@pytest.fixture
def shared_teacher(world, other_world):
    """``world.teacher`` also teaches in the other school, with a subject and rates there."""
    teacher = f.teacher_in(other_world.school, user=world.teacher.user, rate="5000")
    teacher.subjects.add(f.SubjectFactory(school=other_world.school, name="Kanji"), world.session.subject)
    return teacher


# --- list ------------------------------------------------------------------------------------------


def test_list_by_role(world, other_world):
    seen = {role: client_for(user_for(role, world, other_world)).get(TEACHERS) for role in ROLES}

    assert seen.pop("anonymous").status_code == 401
    both = sorted([world.teacher.pk, world.other_teacher.pk])
    assert {role: ids(response) for role, response in seen.items()} == {
        "owner": both,
        "admin": both,
        "teacher": [world.teacher.pk],
        "other_teacher": [world.other_teacher.pk],
        "student": [],
        "guardian": [],
        "other_guardian": [],
        "outsider": sorted([other_world.teacher.pk, other_world.other_teacher.pk]),
    }


def test_list_shows_profile_subjects_and_rates(world):
    SchoolTeacher.objects.create(teacher=world.teacher, school=world.school, bio="Loves maths.")
    world.teacher.subjects.add(world.session.subject)
    TeacherRate.objects.create(
        teacher=world.teacher, school=world.school, subject=world.session.subject, is_group=True, hourly_rate="42.50"
    )

    rows = client_for(world.admin).get(TEACHERS).json()["results"]

    assert rows[0] == {
        "id": world.teacher.pk,
        "name": world.teacher.user.full_name,
        "email": world.teacher.user.email,
        "schools": [{"id": world.school.pk, "name": "Lisbon Tutors", "bio": "Loves maths."}],
        "subjects": [
            {"id": world.session.subject_id, "name": world.session.subject.name, "school_id": world.school.pk}
        ],
        "rates": [
            {
                "school_id": world.school.pk,
                "subject_id": None,
                "is_group": False,
                "hourly_rate": "30.00",
                "currency": "EUR",
            },
            {
                "school_id": world.school.pk,
                "subject_id": world.session.subject_id,
                "is_group": True,
                "hourly_rate": "42.50",
                "currency": "EUR",
            },
        ],
    }


def test_staff_see_only_their_own_schools_side_of_a_shared_teacher(world, other_world, shared_teacher):
    SchoolTeacher.objects.create(teacher=shared_teacher, school=world.school, bio="Ours.")
    SchoolTeacher.objects.create(teacher=shared_teacher, school=other_world.school, bio="Theirs.")
    mine = client_for(world.admin).get(teacher_url(shared_teacher)).json()
    theirs = client_for(other_world.owner).get(teacher_url(shared_teacher)).json()
    own = client_for(world.teacher.user).get(teacher_url(shared_teacher)).json()

    assert mine["schools"] == [{"id": world.school.pk, "name": "Lisbon Tutors", "bio": "Ours."}]
    assert [s["school_id"] for s in mine["subjects"]] == [world.school.pk]
    assert [(r["school_id"], r["currency"]) for r in mine["rates"]] == [(world.school.pk, "EUR")]

    assert theirs["schools"] == [{"id": other_world.school.pk, "name": "Tokyo Tutors", "bio": "Theirs."}]
    assert [s["name"] for s in theirs["subjects"]] == ["Kanji"]
    assert [(r["hourly_rate"], r["currency"]) for r in theirs["rates"]] == [("5000.00", "JPY")]

    assert [(s["id"], s["bio"]) for s in own["schools"]] == [
        (world.school.pk, "Ours."),
        (other_world.school.pk, "Theirs."),
    ]
    assert len(own["subjects"]) == 2
    assert len(own["rates"]) == 2


def test_filter_by_school_never_reveals_where_else_a_teacher_teaches(world, other_world, shared_teacher):
    client = client_for(world.owner)

    assert ids(client.get(TEACHERS, {"school": world.school.pk})) == sorted([world.teacher.pk, world.other_teacher.pk])
    assert ids(client.get(TEACHERS, {"school": other_world.school.pk})) == []
    assert ids(client_for(world.teacher.user).get(TEACHERS, {"school": other_world.school.pk})) == [world.teacher.pk]


def test_filter_by_name_or_email(world):
    world.teacher.user.full_name = "Zelda Quark"
    world.teacher.user.save()
    client = client_for(world.owner)

    assert ids(client.get(TEACHERS, {"q": "quark"})) == [world.teacher.pk]
    assert ids(client.get(TEACHERS, {"q": world.other_teacher.user.email.upper()})) == [world.other_teacher.pk]
    assert client.get(TEACHERS, {"q": "x" * 101}).status_code == 400


def test_a_deactivated_teacher_leaves_the_staff_list_but_still_sees_themselves(world):
    Membership.objects.filter(user=world.teacher.user, role=Role.TEACHER).update(is_active=False)

    assert ids(client_for(world.owner).get(TEACHERS)) == [world.other_teacher.pk]
    assert ids(client_for(world.teacher.user).get(TEACHERS)) == []


def test_list_query_count_does_not_grow_with_teachers(django_assert_num_queries):
    school = f.SchoolFactory()
    admin = f.member(school=school, role=Role.ADMIN)
    client = client_for(admin)
    for count in (3, 6):
        while Teacher.objects.count() < count:
            teacher = f.teacher_in(school)
            subject = f.SubjectFactory(school=school)
            teacher.subjects.add(subject)
            TeacherRate.objects.create(teacher=teacher, school=school, subject=subject, hourly_rate="40")
        cache.clear()  # each measurement builds the viewer\'s roles too
        with django_assert_num_queries(AUTH_QUERIES + 6):  # count, page, records, schools, subjects, rates
            assert len(ids(client.get(TEACHERS))) == count


# --- create ----------------------------------------------------------------------------------------


def new_teacher(school, **fields):
    return {
        "school_id": school.pk,
        "email": f"teacher-{next(_numbers)}@example.test",
        "full_name": "Tess Teacher",
        "default_hourly_rate": "35.00",
        **fields,
    }


_numbers = itertools.count()


def test_create_by_role(world, other_world):
    table = statuses(world, other_world, lambda c: c.post(TEACHERS, new_teacher(world.school)))

    assert table == {
        **dict.fromkeys(ROLES, 403),
        "owner": 201,
        "admin": 201,
        "outsider": 400,
        "anonymous": 401,
    }


def test_admin_invites_a_teacher_with_subjects_and_rates(world):
    subject = world.session.subject
    other_subject = f.SubjectFactory(school=world.school)
    payload = new_teacher(
        world.school,
        email="  Tess@Example.TEST",
        bio="Physics since 1999.",
        subject_ids=[subject.pk, other_subject.pk],
        group_hourly_rate="20.00",
        rates=[
            {"subject_id": subject.pk, "hourly_rate": "50.00"},
            {"subject_id": subject.pk, "is_group": True, "hourly_rate": "25.5"},
        ],
    )

    response = client_for(world.admin).post(TEACHERS, payload)

    assert response.status_code == 201, response.json()
    assert (response.json()["role"], response.json()["status"]) == ("teacher", "pending")
    assert not User.objects.filter(email="tess@example.test").exists()
    user = accept_invitation("tess@example.test")
    teacher = Teacher.objects.get(user=user)
    assert SchoolTeacher.objects.get(teacher=teacher, school=world.school).bio == "Physics since 1999."
    assert set(teacher.subjects.all()) == {subject, other_subject}
    assert Membership.objects.get(user=user, school=world.school).role == Role.TEACHER
    assert rate(teacher, world.school) == Decimal("35.00")
    assert rate(teacher, world.school, is_group=True) == Decimal("20.00")
    assert rate(teacher, world.school, subject, is_group=True) == Decimal("25.50")
    body = client_for(world.admin).get(teacher_url(teacher)).json()
    assert [r["hourly_rate"] for r in body["rates"]] == ["35.00", "20.00", "50.00", "25.50"]
    assert ActivityLog.objects.filter(verb="invitation.accepted", teacher=teacher, school=world.school).exists()


def test_a_teacher_of_another_school_joins_with_their_own_name_and_a_record_per_school(world, other_world):
    person = other_world.teacher
    SchoolTeacher.objects.create(teacher=person, school=other_world.school, bio="Their bio.")

    response = client_for(world.owner).post(
        TEACHERS, new_teacher(world.school, email=person.user.email, full_name="Renamed", bio="Our bio.")
    )
    assert response.status_code == 201
    assert client_for(world.owner).get(teacher_url(person)).status_code == 404  # not ours until they accept
    accept_invitation(person.user.email)

    body = client_for(world.owner).get(teacher_url(person)).json()
    assert body["schools"] == [{"id": world.school.pk, "name": "Lisbon Tutors", "bio": "Our bio."}]
    person.user.refresh_from_db()
    assert person.user.full_name != "Renamed"
    assert rate(person, other_world.school) == Decimal("30.00")
    assert SchoolTeacher.objects.get(teacher=person, school=other_world.school).bio == "Their bio."


def test_inviting_someone_who_teaches_here_already_answers_like_any_invitation(world):
    response = client_for(world.owner).post(TEACHERS, new_teacher(world.school, email=world.teacher.user.email))

    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert rate(world.teacher, world.school) == Decimal("30.00")


def test_a_former_teacher_is_rehired(world):
    client = client_for(world.owner)
    assert client.delete(teacher_url(world.teacher, school=world.school.pk)).status_code == 204

    response = client.post(
        TEACHERS, new_teacher(world.school, email=world.teacher.user.email, bio="Back again.", default_hourly_rate="31")
    )
    assert response.status_code == 201
    accept_invitation(world.teacher.user.email)

    assert SchoolTeacher.objects.get(teacher=world.teacher, school=world.school).bio == "Back again."
    assert rate(world.teacher, world.school) == Decimal("31.00")
    assert Membership.objects.get(user=world.teacher.user, school=world.school, role=Role.TEACHER).is_active


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"default_hourly_rate": "-1.00"}, "default_hourly_rate"),
        ({"default_hourly_rate": "10.001"}, "default_hourly_rate"),
        ({"default_hourly_rate": "1e20"}, "default_hourly_rate"),
        ({"default_hourly_rate": "NaN"}, "default_hourly_rate"),
        ({"default_hourly_rate": None}, "default_hourly_rate"),
        ({"group_hourly_rate": "abc"}, "group_hourly_rate"),
        ({"email": "nope"}, "email"),
        ({"full_name": "n" * 151}, "full_name"),
        ({"bio": "b" * 5001}, "bio"),
        ({"subject_ids": "1"}, "subject_ids"),
        ({"subject_ids": [0]}, "subject_ids"),
        ({"subject_ids": [10**30]}, "subject_ids"),
        ({"subject_ids": [999_999]}, "subject_ids"),
        ({"rates": [{"subject_id": 999_999, "hourly_rate": "1"}]}, "rates"),
        ({"rates": [{"hourly_rate": "1"}]}, "rates"),
        ({"rates": {"subject_id": 1}}, "rates"),
        ({"school_id": 999_999}, "school_id"),
    ],
)
def test_create_rejects_bad_input(world, fields, field):
    response = client_for(world.owner).post(TEACHERS, new_teacher(world.school, **fields))

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Invitation.objects.exists()


def test_create_needs_a_default_rate(world):
    payload = new_teacher(world.school)
    del payload["default_hourly_rate"]

    response = client_for(world.owner).post(TEACHERS, payload)

    assert response.status_code == 400
    assert "default_hourly_rate" in response.json()["fields"]
    assert not Invitation.objects.exists()


def test_subjects_and_rates_must_belong_to_the_school(world, other_world):
    theirs = f.SubjectFactory(school=other_world.school)
    client = client_for(world.owner)

    by_subjects = client.post(TEACHERS, new_teacher(world.school, subject_ids=[theirs.pk]))
    by_rates = client.post(TEACHERS, new_teacher(world.school, rates=[{"subject_id": theirs.pk, "hourly_rate": "10"}]))

    assert by_subjects.status_code == by_rates.status_code == 400
    assert by_subjects.json()["fields"] == {"subject_ids": [f"Not subjects of this school: {theirs.pk}."]}
    assert "rates" in by_rates.json()["fields"]
    assert not Invitation.objects.exists()


def test_one_rate_per_subject_and_kind(world):
    subject = world.session.subject
    rates = [{"subject_id": subject.pk, "hourly_rate": "10"}, {"subject_id": subject.pk, "hourly_rate": "12"}]

    response = client_for(world.owner).post(TEACHERS, new_teacher(world.school, rates=rates))

    assert response.status_code == 400
    assert "rates" in response.json()["fields"]
    assert not Invitation.objects.exists()


# --- retrieve ----------------------------------------------------------------------------------------


def test_retrieve_by_role(world, other_world):
    table = statuses(world, other_world, lambda c: c.get(teacher_url(world.teacher)))

    assert table == {
        **dict.fromkeys(ROLES, 404),
        "owner": 200,
        "admin": 200,
        "teacher": 200,
        "anonymous": 401,
    }


# --- update ----------------------------------------------------------------------------------------


def test_update_bio_by_role(world, other_world):
    bios = (f"Bio {n}." for n in itertools.count())
    table = statuses(
        world,
        other_world,
        lambda c: c.patch(teacher_url(world.teacher), {"bio": next(bios), "school_id": world.school.pk}),
    )

    assert table == {
        **dict.fromkeys(ROLES, 404),
        "owner": 200,
        "admin": 200,
        "teacher": 200,
        "anonymous": 401,
    }
    # the teacher's own, the last one let in
    assert SchoolTeacher.objects.get(teacher=world.teacher, school=world.school).bio == "Bio 2."


def test_a_bio_belongs_to_a_school_that_must_be_named(world):
    response = client_for(world.teacher.user).patch(teacher_url(world.teacher), {"bio": "Mine."})

    assert response.status_code == 400
    assert "school_id" in response.json()["fields"]
    assert not SchoolTeacher.objects.exists()


def test_update_rates_by_role(world, other_world):
    amounts = (f"{n}.00" for n in itertools.count(33))
    table = statuses(
        world,
        other_world,
        lambda c: c.patch(
            teacher_url(world.teacher), {"school_id": world.school.pk, "default_hourly_rate": next(amounts)}
        ),
    )

    assert table == {
        **dict.fromkeys(ROLES, 404),
        "owner": 200,
        "admin": 200,
        "teacher": 403,  # their own profile, but not their own pay
        "anonymous": 401,
    }
    assert rate(world.teacher, world.school) == Decimal("34.00")  # the admin's, the last one let in


def test_a_teacher_edits_their_bio_in_a_school_they_teach_in_only(world, other_world):
    client = client_for(world.teacher.user)
    response = client.patch(teacher_url(world.teacher), {"bio": "Mine.", "school_id": world.school.pk})

    assert response.status_code == 200
    assert response.json()["schools"][0]["bio"] == "Mine."
    assert ActivityLog.objects.get(verb="teacher.updated").data == {"fields": ["bio"]}
    elsewhere = client.patch(teacher_url(world.teacher), {"bio": "Mine.", "school_id": other_world.school.pk})
    assert elsewhere.status_code == 400
    assert list(SchoolTeacher.objects.values_list("school_id", flat=True)) == [world.school.pk]


def test_a_teacher_may_not_change_their_subjects(world):
    response = client_for(world.teacher.user).patch(
        teacher_url(world.teacher, school=world.school.pk), {"subject_ids": [world.session.subject_id]}
    )

    assert response.status_code == 403
    assert not world.teacher.subjects.exists()


def test_staff_replace_subjects_and_rates_in_their_school_only(world, other_world, shared_teacher):
    mine = world.session.subject
    extra = f.SubjectFactory(school=world.school)
    world.teacher.subjects.add(mine)
    TeacherRate.objects.create(teacher=world.teacher, school=world.school, subject=mine, hourly_rate="45")
    TeacherRate.objects.create(teacher=world.teacher, school=world.school, is_group=True, hourly_rate="15")

    response = client_for(world.admin).patch(
        teacher_url(world.teacher, school=world.school.pk),
        {
            "subject_ids": [extra.pk],
            "rates": [{"subject_id": extra.pk, "is_group": True, "hourly_rate": "60.00"}],
            "default_hourly_rate": "32.00",
            "group_hourly_rate": None,
        },
    )

    assert response.status_code == 200, response.json()
    subjects = set(world.teacher.subjects.values_list("school_id", "id"))
    kanji = world.teacher.subjects.get(name="Kanji")
    assert subjects == {(world.school.pk, extra.pk), (other_world.school.pk, kanji.pk)}
    assert [(r["subject_id"], r["is_group"], r["hourly_rate"]) for r in response.json()["rates"]] == [
        (None, False, "32.00"),
        (extra.pk, True, "60.00"),
    ]
    assert rate(world.teacher, other_world.school) == Decimal("5000")
    log = ActivityLog.objects.get(verb="teacher.updated")
    assert log.data == {"fields": ["default_hourly_rate", "group_hourly_rate", "rates", "subject_ids"]}


def test_set_a_group_rate(world):
    response = client_for(world.admin).patch(
        teacher_url(world.teacher), {"school_id": world.school.pk, "group_hourly_rate": "18.00"}
    )

    assert response.status_code == 200
    assert rate(world.teacher, world.school, is_group=True) == Decimal("18.00")


def test_subjects_and_rates_need_a_school(world):
    response = client_for(world.admin).patch(teacher_url(world.teacher), {"default_hourly_rate": "10"})

    assert response.status_code == 400
    assert "school_id" in response.json()["fields"]
    assert rate(world.teacher, world.school) == Decimal("30.00")


def test_staff_of_another_school_of_a_shared_teacher_cannot_touch_this_schools_rates(
    world, other_world, shared_teacher
):
    client = client_for(other_world.owner)

    response = client.patch(teacher_url(shared_teacher, school=world.school.pk), {"default_hourly_rate": "1"})

    assert response.status_code == 400
    assert response.json()["fields"] == {"school": ["No such school."]}
    assert rate(shared_teacher, world.school) == Decimal("30.00")


def test_rates_cannot_be_set_where_the_teacher_does_not_teach(world):
    elsewhere = f.SchoolFactory()
    f.member(school=elsewhere, role=Role.ADMIN, user=world.admin)

    response = client_for(world.admin).patch(
        teacher_url(world.teacher, school=elsewhere.pk), {"default_hourly_rate": "1"}
    )

    assert response.status_code == 400
    assert response.json()["fields"] == {"school_id": ["The teacher does not teach in this school."]}
    assert rate(world.teacher, world.school) == Decimal("30.00")
    assert not TeacherRate.objects.filter(school=elsewhere).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"default_hourly_rate": "-5"}, "default_hourly_rate"),
        ({"subject_ids": [999_999]}, "subject_ids"),
        ({"rates": [{"subject_id": 999_999, "hourly_rate": "1"}]}, "rates"),
        ({"bio": ["x"]}, "bio"),
        ({"school_id": "x"}, "school_id"),
    ],
)
def test_update_rejects_bad_input(world, payload, field):
    response = client_for(world.owner).patch(teacher_url(world.teacher), {"school_id": world.school.pk, **payload})

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert list(TeacherRate.objects.filter(teacher=world.teacher).values_list("subject", "hourly_rate")) == [
        (None, Decimal("30.00"))
    ]
    assert not world.teacher.subjects.exists()
    assert not SchoolTeacher.objects.exists()
    assert not ActivityLog.objects.filter(verb="teacher.updated").exists()


def test_update_rejects_a_bad_school_query(world):
    response = client_for(world.owner).patch(teacher_url(world.teacher, school="abc"), {"default_hourly_rate": "1"})

    assert response.status_code == 400
    assert "school" in response.json()["fields"]
    assert rate(world.teacher, world.school) == Decimal("30.00")


def test_an_update_that_changes_nothing_records_nothing(world):
    SchoolTeacher.objects.create(teacher=world.teacher, school=world.school, bio="Same.")

    response = client_for(world.teacher.user).patch(
        teacher_url(world.teacher, school=world.school.pk), {"bio": "Same."}
    )
    assert response.status_code == 200
    assert not ActivityLog.objects.filter(verb="teacher.updated").exists()


# --- deactivate ------------------------------------------------------------------------------------


def test_deactivate_by_role(world, other_world):
    url = teacher_url(world.teacher, school=world.school.pk)
    membership = Membership.objects.get(user=world.teacher.user, school=world.school, role=Role.TEACHER)
    refused = statuses(world, other_world, lambda c: c.delete(url), ROLES[2:])
    membership.refresh_from_db()
    kept = membership.is_active
    by_admin = client_for(world.admin).delete(url)

    assert {**refused, "admin": by_admin.status_code} == {
        **dict.fromkeys(ROLES[2:], 404),
        "teacher": 403,
        "admin": 204,
        "anonymous": 401,
    }
    assert kept
    membership.refresh_from_db()
    assert not membership.is_active


def test_deactivating_stops_them_teaching_here_only(world, other_world, shared_teacher):
    response = client_for(world.owner).delete(teacher_url(world.teacher, school=world.school.pk))

    assert response.status_code == 204
    assert not Membership.objects.get(user=world.teacher.user, school=world.school, role=Role.TEACHER).is_active
    assert Membership.objects.get(user=world.teacher.user, school=other_world.school, role=Role.TEACHER).is_active
    assert rate(world.teacher, world.school) == Decimal("30.00")  # history stays
    assert ids(client_for(world.owner).get(TEACHERS)) == [world.other_teacher.pk]
    assert ActivityLog.objects.filter(verb="teacher.deactivated", teacher=world.teacher).exists()


def test_deactivate_needs_a_school(world):
    response = client_for(world.owner).delete(teacher_url(world.teacher))

    assert response.status_code == 400
    assert response.json()["fields"] == {"school_id": ["Name the school: `school_id` in the body or `?school=`."]}
    assert Membership.objects.get(user=world.teacher.user, school=world.school, role=Role.TEACHER).is_active


def test_deactivate_in_a_school_where_they_do_not_teach_is_refused(world):
    elsewhere = f.SchoolFactory()
    f.member(school=elsewhere, role=Role.OWNER, user=world.owner)

    response = client_for(world.owner).delete(teacher_url(world.teacher, school=elsewhere.pk))

    assert response.status_code == 400
    assert "school_id" in response.json()["fields"]
    assert Membership.objects.get(user=world.teacher.user, school=world.school, role=Role.TEACHER).is_active
    assert not ActivityLog.objects.filter(verb="teacher.deactivated").exists()


def test_a_teacher_who_teaches_nowhere_no_longer_sees_their_profile(world):
    assert client_for(world.owner).delete(teacher_url(world.teacher, school=world.school.pk)).status_code == 204

    assert client_for(world.teacher.user).get(teacher_url(world.teacher)).status_code == 404
