from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from chalkboard.activity.models import ActivityLog
from chalkboard.earnings.models import EarningEntry, EarningStatus, Payout
from chalkboard.schools.models import Membership, Role, School
from tests import factories as f
from tests.conftest import client_for
from tests.schools.helpers import AUTH_QUERIES, ROLES, ids, statuses, user_for

pytestmark = pytest.mark.django_db

SCHOOLS = "/api/schools/"


def school_url(school):
    return f"{SCHOOLS}{school.pk}/"


# --- list ------------------------------------------------------------------------------------------


def test_list_shows_each_role_their_own_schools_and_roles(world, other_world):
    f.member(school=world.school, role=Role.TEACHER, user=world.owner)  # an owner who also teaches

    seen = {}
    for role in ROLES:
        response = client_for(user_for(role, world, other_world)).get(SCHOOLS)
        seen[role] = response.status_code if role == "anonymous" else response.json()["results"]

    assert seen["anonymous"] == 401
    assert seen["owner"] == [
        {
            "id": world.school.pk,
            "name": "Lisbon Tutors",
            "timezone": "Europe/Lisbon",
            "currency": "EUR",
            "no_show_billable": True,
            "late_claim_days": 14,
            "overrun_minutes": 30,
            "paid_amend_days": 30,
            "roles": ["owner", "teacher"],
        }
    ]
    for role in ("admin", "teacher", "other_teacher", "student", "guardian", "other_guardian"):
        assert [row["id"] for row in seen[role]] == [world.school.pk], role
    assert seen["guardian"][0]["roles"] == ["guardian"]
    assert [row["id"] for row in seen["outsider"]] == [other_world.school.pk]


def test_list_leaves_out_inactive_memberships(world):
    Membership.objects.filter(user=world.admin).update(is_active=False)

    assert ids(client_for(world.admin).get(SCHOOLS)) == []


def test_list_filters_by_my_role_and_by_name(world, other_world):
    f.member(school=other_world.school, role=Role.STUDENT, user=world.owner)
    client = client_for(world.owner)

    assert ids(client.get(SCHOOLS)) == [world.school.pk, other_world.school.pk]
    assert ids(client.get(SCHOOLS, {"role": "student"})) == [other_world.school.pk]
    assert ids(client.get(SCHOOLS, {"q": "lisbon"})) == [world.school.pk]
    assert client.get(SCHOOLS, {"role": "janitor"}).status_code == 400


def test_list_query_count_does_not_grow_with_schools(django_assert_num_queries):
    user = f.UserFactory()
    client = client_for(user)
    for count in (3, 6):
        while Membership.objects.filter(user=user).count() < count:
            f.member(school=f.SchoolFactory(), role=Role.OWNER, user=user)
        cache.clear()  # each measurement builds the viewer\'s roles too
        with django_assert_num_queries(AUTH_QUERIES + 2):  # count, page
            assert len(ids(client.get(SCHOOLS))) == count


def test_list_is_paginated():
    user = f.UserFactory()
    for _ in range(3):
        f.member(school=f.SchoolFactory(), role=Role.OWNER, user=user)

    body = client_for(user).get(SCHOOLS, {"page_size": 2}).json()

    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]
    assert body["previous"] is None


# --- create ----------------------------------------------------------------------------------------


def test_any_signed_in_user_founds_a_school_and_owns_it():
    user = f.UserFactory()
    payload = {
        "name": "Porto Tutors",
        "timezone": "Europe/Lisbon",
        "currency": "GBP",
        "no_show_billable": False,
        "late_claim_days": 7,
        "overrun_minutes": 0,
        "paid_amend_days": 90,
    }

    response = client_for(user).post(SCHOOLS, payload)

    assert response.status_code == 201
    body = response.json()
    school = School.objects.get(pk=body["id"])
    assert body == {**payload, "id": school.pk, "roles": ["owner"]}
    assert Membership.objects.get(school=school).role == Role.OWNER
    assert ActivityLog.objects.filter(verb="school.created", school=school, actor=user).exists()


def test_create_defaults_currency_billing_and_pay_bounds():
    response = client_for(f.UserFactory()).post(SCHOOLS, {"name": "X", "timezone": "UTC"})

    assert response.status_code == 201
    body = response.json()
    assert (body["currency"], body["no_show_billable"]) == ("EUR", True)
    assert (body["late_claim_days"], body["overrun_minutes"], body["paid_amend_days"]) == (14, 30, 30)
    school = School.objects.get(pk=body["id"])
    assert (school.name, school.timezone, school.currency, school.no_show_billable) == ("X", "UTC", "EUR", True)
    assert (school.late_claim_days, school.overrun_minutes, school.paid_amend_days) == (14, 30, 30)


def test_anonymous_cannot_create_a_school(api_client):
    response = api_client.post(SCHOOLS, {"name": "X", "timezone": "UTC"})

    assert response.status_code == 401
    assert not School.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"timezone": "UTC"}, "name"),
        ({"name": "", "timezone": "UTC"}, "name"),
        ({"name": "x" * 201, "timezone": "UTC"}, "name"),
        ({"name": ["x"], "timezone": "UTC"}, "name"),
        ({"name": "X", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "X", "timezone": "Europe/Lisbon" * 10}, "timezone"),
        ({"name": "X", "timezone": "UTC", "currency": "eur"}, "currency"),
        ({"name": "X", "timezone": "UTC", "currency": "EURO"}, "currency"),
        ({"name": "X", "timezone": "UTC", "currency": "E1R"}, "currency"),
        ({"name": "X", "timezone": "UTC", "no_show_billable": "perhaps"}, "no_show_billable"),
        ({"name": "X", "timezone": "UTC", "late_claim_days": -1}, "late_claim_days"),
        ({"name": "X", "timezone": "UTC", "late_claim_days": 367}, "late_claim_days"),
        ({"name": "X", "timezone": "UTC", "overrun_minutes": 721}, "overrun_minutes"),
        ({"name": "X", "timezone": "UTC", "paid_amend_days": "soon"}, "paid_amend_days"),
    ],
)
def test_create_rejects_bad_input(payload, field):
    response = client_for(f.UserFactory()).post(SCHOOLS, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert not School.objects.exists()


def test_create_rejects_a_body_that_is_not_an_object():
    response = client_for(f.UserFactory()).post(SCHOOLS, ["not", "an", "object"])

    assert response.status_code == 400
    assert not School.objects.exists()


# --- retrieve / update / delete --------------------------------------------------------------------


def test_retrieve_by_role(world, other_world):
    table = statuses(world, other_world, lambda c: c.get(school_url(world.school)))

    assert table == {**dict.fromkeys(ROLES, 200), "outsider": 404, "anonymous": 401}


def test_retrieve_shows_my_roles(world):
    body = client_for(world.teacher.user).get(school_url(world.school)).json()

    assert body["roles"] == ["teacher"]
    assert body["name"] == "Lisbon Tutors"


@pytest.mark.parametrize("school_id", [999_999, 2**63 - 1, 10**30])
def test_retrieve_unknown_school_is_404(world, school_id):
    assert client_for(world.owner).get(f"{SCHOOLS}{school_id}/").status_code == 404


def test_update_by_role(world, other_world):
    names = (f"Renamed {n}" for n in itertools.count())
    table = statuses(world, other_world, lambda c: c.patch(school_url(world.school), {"name": next(names)}))

    assert table == {
        **dict.fromkeys(ROLES, 403),
        "owner": 200,
        "admin": 200,
        "outsider": 404,
        "anonymous": 401,
    }
    world.school.refresh_from_db()
    other_world.school.refresh_from_db()
    assert world.school.name == "Renamed 1"  # the admin's, the last one let in
    assert other_world.school.name == "Tokyo Tutors"


def test_admin_updates_the_school(world):
    response = client_for(world.admin).patch(
        school_url(world.school), {"timezone": "America/New_York", "currency": "USD", "no_show_billable": False}
    )

    assert response.status_code == 200
    world.school.refresh_from_db()
    assert (world.school.timezone, world.school.currency, world.school.no_show_billable) == (
        "America/New_York",
        "USD",
        False,
    )
    assert world.school.name == "Lisbon Tutors"
    log = ActivityLog.objects.get(verb="school.updated")
    assert log.data == {"fields": ["currency", "no_show_billable", "timezone"]}


def test_owner_and_admin_set_the_schools_pay_bounds_others_may_not(world):
    by_teacher = client_for(world.teacher.user).patch(school_url(world.school), {"late_claim_days": 366})
    by_admin = client_for(world.admin).patch(
        school_url(world.school), {"late_claim_days": 3, "overrun_minutes": 0, "paid_amend_days": 0}
    )

    assert by_teacher.status_code == 403
    assert by_admin.status_code == 200
    assert (by_admin.json()["late_claim_days"], by_admin.json()["overrun_minutes"]) == (3, 0)
    world.school.refresh_from_db()
    assert (world.school.late_claim_days, world.school.overrun_minutes, world.school.paid_amend_days) == (3, 0, 0)
    log = ActivityLog.objects.get(verb="school.updated")
    assert log.data == {"fields": ["late_claim_days", "overrun_minutes", "paid_amend_days"]}


def test_update_without_changes_records_nothing(world):
    response = client_for(world.owner).patch(school_url(world.school), {"name": "Lisbon Tutors"})

    assert response.status_code == 200
    assert not ActivityLog.objects.filter(verb="school.updated").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"timezone": "Nowhere"}, "timezone"),
        ({"currency": "12"}, "currency"),
        ({"name": ""}, "name"),
        ({"paid_amend_days": 400}, "paid_amend_days"),
    ],
)
def test_update_rejects_bad_input(world, payload, field):
    response = client_for(world.owner).patch(school_url(world.school), payload)

    assert response.status_code == 400
    assert field in response.json()["fields"]
    world.school.refresh_from_db()
    assert (world.school.name, world.school.timezone, world.school.currency, world.school.paid_amend_days) == (
        "Lisbon Tutors",
        "Europe/Lisbon",
        "EUR",
        30,
    )
    assert not ActivityLog.objects.filter(verb="school.updated").exists()


def test_delete_by_role(world, other_world):
    # Everyone but the owner is refused before the school's history is looked at.
    table = statuses(world, other_world, lambda c: c.delete(school_url(world.school)), [*ROLES[1:]])

    assert table == {
        **dict.fromkeys(ROLES[1:], 403),
        "outsider": 404,
        "anonymous": 401,
    }
    assert School.objects.filter(pk=world.school.pk).exists()
    assert not ActivityLog.objects.filter(verb="school.deleted").exists()


def test_owner_cannot_delete_a_school_with_sessions(world):
    response = client_for(world.owner).delete(school_url(world.school))

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert School.objects.filter(pk=world.school.pk).exists()
    assert Membership.objects.filter(school=world.school, user=world.owner, role=Role.OWNER).exists()
    assert not ActivityLog.objects.filter(verb="school.deleted").exists()


def test_owner_deletes_a_school_without_history():
    owner = f.UserFactory()
    school = f.SchoolFactory()
    f.member(school=school, role=Role.OWNER, user=owner)
    f.teacher_in(school)
    f.student_in(school)
    f.SkillFactory(subject=f.SubjectFactory(school=school))

    response = client_for(owner).delete(school_url(school))

    assert response.status_code == 204
    assert not School.objects.filter(pk=school.pk).exists()
    log = ActivityLog.objects.get(verb="school.deleted")
    assert (log.object_id, log.school_id, log.data) == (school.pk, None, {"name": school.name})


def test_a_school_with_paid_earnings_is_kept_even_without_sessions():
    owner = f.UserFactory()
    school = f.SchoolFactory()
    f.member(school=school, role=Role.OWNER, user=owner)
    teacher = f.teacher_in(school)
    now = timezone.now()
    payout = Payout.objects.create(
        school=school, teacher=teacher, amount=Decimal("10.00"), currency="EUR", paid_at=now, created_by=owner
    )
    EarningEntry.objects.create(
        school=school,
        teacher=teacher,
        status=EarningStatus.PAID,
        amount=Decimal("10.00"),
        currency="EUR",
        minutes=20,
        hourly_rate=Decimal("30.00"),
        earned_at=now,
        payout=payout,
    )

    response = client_for(owner).delete(school_url(school))

    assert response.status_code == 409
    assert School.objects.filter(pk=school.pk).exists()
    assert not ActivityLog.objects.filter(verb="school.deleted").exists()
