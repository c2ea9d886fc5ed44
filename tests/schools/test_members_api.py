from __future__ import annotations

import itertools

import pytest
from django.core.cache import cache

from chalkboard.accounts.models import User
from chalkboard.activity.models import ActivityLog
from chalkboard.invitations.models import Invitation
from chalkboard.invitations.services import invitation_create
from chalkboard.people.models import GuardianLink, Student, Teacher
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Membership, Role
from tests import factories as f
from tests.conftest import client_for
from tests.schools.helpers import AUTH_QUERIES, NON_STAFF_MEMBERS, ROLES, accept_invitation, ids, statuses

pytestmark = pytest.mark.django_db


def members_url(school):
    return f"/api/schools/{school.pk}/members/"


def member_url(membership):
    return f"/api/schools/{membership.school_id}/members/{membership.pk}/"


def membership_of(user, school, role):
    return Membership.objects.get(user=user, school=school, role=role)


# --- list ------------------------------------------------------------------------------------------


def test_list_by_role(world, other_world):
    table = statuses(world, other_world, lambda c: c.get(members_url(world.school)))

    assert table == {
        **dict.fromkeys(NON_STAFF_MEMBERS, 403),
        "owner": 200,
        "admin": 200,
        "outsider": 404,
        "anonymous": 401,
    }


def test_list_shows_every_membership_of_the_school_only(world, other_world):
    Membership.objects.filter(user=world.other_guardian).update(is_active=False)

    rows = client_for(world.admin).get(members_url(world.school), {"page_size": 100}).json()["results"]

    assert {row["id"] for row in rows} == set(
        Membership.objects.filter(school=world.school).values_list("id", flat=True)
    )
    assert {row["school_id"] for row in rows} == {world.school.pk}
    owner_row = next(row for row in rows if row["role"] == "owner")
    assert owner_row == {
        "id": membership_of(world.owner, world.school, Role.OWNER).pk,
        "school_id": world.school.pk,
        "user": {"id": world.owner.pk, "email": world.owner.email, "full_name": world.owner.full_name},
        "role": "owner",
        "is_active": True,
    }
    assert [row["is_active"] for row in rows if row["user"]["id"] == world.other_guardian.pk] == [False]


def test_list_filters_by_role_and_state(world):
    Membership.objects.filter(user=world.other_guardian).update(is_active=False)
    client = client_for(world.owner)

    teachers = client.get(members_url(world.school), {"role": "teacher"}).json()["results"]
    inactive = client.get(members_url(world.school), {"is_active": "false"}).json()["results"]

    assert {row["user"]["id"] for row in teachers} == {world.teacher.pk, world.other_teacher.pk}
    assert [row["user"]["id"] for row in inactive] == [world.other_guardian.pk]
    assert client.get(members_url(world.school), {"role": "king"}).status_code == 400


def test_list_query_count_does_not_grow_with_members(world, django_assert_num_queries):
    client = client_for(world.owner)
    for count in (3, 6):
        while Membership.objects.filter(school=world.school, role=Role.STUDENT).count() < count:
            f.student_in(world.school)
        cache.clear()  # each measurement builds the viewer\'s roles too
        with django_assert_num_queries(AUTH_QUERIES + 3):  # the school, count, page
            assert len(ids(client.get(members_url(world.school), {"role": "student"}))) == count


def test_retrieve_one_membership(world, other_world):
    membership = membership_of(world.teacher.user, world.school, Role.TEACHER)
    table = statuses(world, other_world, lambda c: c.get(member_url(membership)))

    assert table == {
        **dict.fromkeys(NON_STAFF_MEMBERS, 403),
        "owner": 200,
        "admin": 200,
        "outsider": 404,
        "anonymous": 401,
    }


def test_a_membership_of_another_school_is_not_found_through_this_one(world, other_world):
    theirs = membership_of(other_world.teacher.user, other_world.school, Role.TEACHER)

    response = client_for(world.owner).get(f"/api/schools/{world.school.pk}/members/{theirs.pk}/")

    assert response.status_code == 404


# --- grant -----------------------------------------------------------------------------------------


def test_grant_by_role(world, other_world):
    emails = (f"new{n}@example.test" for n in itertools.count())

    def grant(client):
        return client.post(members_url(world.school), {"email": next(emails), "role": "teacher"})

    table = statuses(world, other_world, grant)

    assert table == {
        **dict.fromkeys(NON_STAFF_MEMBERS, 403),
        "owner": 201,
        "admin": 201,
        "outsider": 404,
        "anonymous": 401,
    }
    invited = Invitation.objects.filter(email__startswith="new").order_by("email")
    assert list(invited.values_list("school_id", "email", "role", "invited_by")) == [
        (world.school.pk, "new0@example.test", "teacher", world.owner.pk),
        (world.school.pk, "new1@example.test", "teacher", world.admin.pk),
    ]


def test_admin_invites_a_new_teacher_by_email(world):
    response = client_for(world.admin).post(
        members_url(world.school), {"email": "  New.Teacher@Example.TEST ", "full_name": "Nina", "role": "teacher"}
    )

    assert response.status_code == 201
    body = response.json()
    invitation = Invitation.objects.get(pk=body["id"])
    assert (body["email"], body["role"], body["status"], body["school_id"]) == (
        "new.teacher@example.test",
        "teacher",
        "pending",
        world.school.pk,
    )
    assert (invitation.invited_by, invitation.full_name) == (world.admin, "Nina")
    # Nobody joins, and no account is made, until the person accepts.
    assert not User.objects.filter(email="new.teacher@example.test").exists()
    user = accept_invitation("new.teacher@example.test")
    assert Teacher.objects.filter(user=user).exists()
    assert Membership.objects.get(user=user, school=world.school).role == Role.TEACHER
    log = ActivityLog.objects.get(verb="invitation.accepted")
    assert (log.actor, log.school_id, log.teacher_id) == (user, world.school.pk, user.pk)


def test_an_invitation_accepted_by_an_existing_user_keeps_their_name_and_password(world, other_world):
    person = other_world.teacher.user

    response = client_for(world.admin).post(
        members_url(world.school), {"email": person.email.upper(), "full_name": "Someone Else", "role": "guardian"}
    )
    assert response.status_code == 201
    accept_invitation(person.email)

    person.refresh_from_db()
    assert person.full_name != "Someone Else"
    assert person.check_password(f.PASSWORD)
    assert Membership.objects.filter(user=person, school=world.school, role=Role.GUARDIAN, is_active=True).exists()


def test_accepting_the_student_role_creates_the_student_record(world):
    response = client_for(world.admin).post(members_url(world.school), {"email": "kid@example.test", "role": "student"})

    assert response.status_code == 201
    assert not Student.objects.filter(user__email="kid@example.test").exists()
    accept_invitation("kid@example.test")
    assert Student.objects.get(user__email="kid@example.test").school == world.school


def test_accepting_a_role_again_reactivates_it(world):
    membership = membership_of(world.student.user, world.school, Role.STUDENT)
    client = client_for(world.admin)
    assert client.delete(member_url(membership)).status_code == 204
    world.student.refresh_from_db()
    assert not world.student.is_active

    response = client.post(members_url(world.school), {"email": world.student.user.email, "role": "student"})
    assert response.status_code == 201
    accept_invitation(world.student.user.email)

    membership.refresh_from_db()
    world.student.refresh_from_db()
    assert membership.is_active
    assert world.student.is_active


def test_inviting_someone_to_a_role_they_hold_answers_like_any_invitation(world):
    """Whether the address already holds the role is not looked up: the answer is an invitation, as always."""
    response = client_for(world.owner).post(
        members_url(world.school), {"email": world.teacher.user.email, "role": "teacher"}
    )

    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    accept_invitation(world.teacher.user.email)
    assert Membership.objects.filter(user=world.teacher.user, school=world.school, role=Role.TEACHER).count() == 1


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_only_an_owner_grants_staff_roles(world, role):
    payload = {"email": "boss@example.test", "role": role}

    assert client_for(world.admin).post(members_url(world.school), payload).status_code == 403
    assert not Invitation.objects.filter(email="boss@example.test").exists()
    assert client_for(world.owner).post(members_url(world.school), payload).status_code == 201
    assert Invitation.objects.get(email="boss@example.test").role == role


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"role": "teacher"}, "email"),
        ({"email": "not-an-email", "role": "teacher"}, "email"),
        ({"email": "a" * 250 + "@example.test", "role": "teacher"}, "email"),
        ({"email": "x@example.test"}, "role"),
        ({"email": "x@example.test", "role": "headmaster"}, "role"),
        ({"email": "x@example.test", "role": "teacher", "full_name": "n" * 151}, "full_name"),
        ({"email": ["x@example.test"], "role": "teacher"}, "email"),
    ],
)
def test_grant_rejects_bad_input(world, payload, field):
    response = client_for(world.owner).post(members_url(world.school), payload)

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Invitation.objects.exists()


# --- revoke ----------------------------------------------------------------------------------------


def test_revoke_by_role(world, other_world):
    membership = membership_of(world.guardian, world.school, Role.GUARDIAN)
    refused = statuses(world, other_world, lambda c: c.delete(member_url(membership)), ROLES[2:])
    membership.refresh_from_db()
    kept = membership.is_active
    by_admin = client_for(world.admin).delete(member_url(membership))

    assert {**refused, "admin": by_admin.status_code} == {
        **dict.fromkeys(NON_STAFF_MEMBERS, 403),
        "admin": 204,
        "outsider": 404,
        "anonymous": 401,
    }
    assert kept
    membership.refresh_from_db()
    assert not membership.is_active


def test_revoking_a_guardian_unlinks_them_from_the_schools_students(world):
    membership = membership_of(world.guardian, world.school, Role.GUARDIAN)

    assert client_for(world.admin).delete(member_url(membership)).status_code == 204

    membership.refresh_from_db()
    assert not membership.is_active
    assert not GuardianLink.objects.filter(guardian=world.guardian).exists()
    log = ActivityLog.objects.get(verb="membership.revoked")
    assert log.data == {"user_id": world.guardian.pk, "role": "guardian"}


def test_revoking_a_teacher_keeps_their_profile(world):
    membership = membership_of(world.teacher.user, world.school, Role.TEACHER)

    assert client_for(world.owner).delete(member_url(membership)).status_code == 204

    assert Teacher.objects.filter(pk=world.teacher.pk).exists()
    assert ActivityLog.objects.get(verb="membership.revoked").teacher_id == world.teacher.pk


def test_revoking_twice_is_harmless(world):
    membership = membership_of(world.teacher.user, world.school, Role.TEACHER)
    client = client_for(world.owner)

    assert client.delete(member_url(membership)).status_code == 204
    assert client.delete(member_url(membership)).status_code == 204
    assert ActivityLog.objects.filter(verb="membership.revoked").count() == 1


def test_only_an_owner_removes_staff_roles(world):
    admin_membership = membership_of(world.admin, world.school, Role.ADMIN)
    owner_membership = membership_of(world.owner, world.school, Role.OWNER)

    assert client_for(world.admin).delete(member_url(owner_membership)).status_code == 403
    assert client_for(world.admin).delete(member_url(admin_membership)).status_code == 403
    admin_membership.refresh_from_db()
    owner_membership.refresh_from_db()
    assert (owner_membership.is_active, admin_membership.is_active) == (True, True)
    assert client_for(world.owner).delete(member_url(admin_membership)).status_code == 204
    admin_membership.refresh_from_db()
    assert not admin_membership.is_active


def test_the_last_owner_cannot_be_removed(world):
    mine = membership_of(world.owner, world.school, Role.OWNER)
    client = client_for(world.owner)

    response = client.delete(member_url(mine))

    assert response.status_code == 409
    mine.refresh_from_db()
    assert mine.is_active


def test_an_owner_may_step_down_when_another_owner_remains(world):
    f.member(school=world.school, role=Role.OWNER, user=world.admin)
    mine = membership_of(world.owner, world.school, Role.OWNER)

    assert client_for(world.owner).delete(member_url(mine)).status_code == 204
    mine.refresh_from_db()
    assert not mine.is_active


def test_an_inactive_second_owner_does_not_count(world):
    other = f.member(school=world.school, role=Role.OWNER)
    Membership.objects.filter(user=other).update(is_active=False)

    mine = membership_of(world.owner, world.school, "owner")

    response = client_for(world.owner).delete(member_url(mine))

    assert response.status_code == 409
    mine.refresh_from_db()
    assert mine.is_active


# --- cached roles follow every membership write --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_member_revoked_through_the_api_is_refused_on_their_very_next_request(world):
    """With real commits: the revocation bumps the revoked user's roles once it commits."""
    teacher = client_for(world.teacher.user)
    assert teacher.get(f"/api/schools/{world.school.pk}/").status_code == 200  # their roles are cached now
    membership = membership_of(world.teacher.user, world.school, Role.TEACHER)

    assert client_for(world.admin).delete(member_url(membership)).status_code == 204

    assert teacher.get(f"/api/schools/{world.school.pk}/").status_code == 404


def test_a_person_invited_and_accepting_is_a_member_on_their_very_next_request(world):
    user = f.UserFactory()
    client = client_for(user)
    assert client.get(f"/api/schools/{world.school.pk}/").status_code == 404  # no roles, and that is cached
    invitation_create(viewer=Viewer.for_user(world.owner), school=world.school, email=user.email, role=Role.TEACHER)

    accept_invitation(user.email, school_id=world.school.pk)

    assert client.get(f"/api/schools/{world.school.pk}/").status_code == 200


def test_a_school_created_is_the_creators_on_their_very_next_request():
    client = client_for(f.UserFactory())
    assert client.get("/api/schools/").json()["count"] == 0  # their roles are cached now

    created = client.post("/api/schools/", {"name": "New", "timezone": "UTC"}).json()

    assert client.get(f"/api/schools/{created['id']}/").status_code == 200


def test_a_deleted_school_leaves_no_role_in_its_members_cache():
    owner, school = f.UserFactory(), f.SchoolFactory()
    f.member(school=school, role=Role.OWNER, user=owner)
    teacher = f.teacher_in(school)
    assert Viewer.for_user(teacher.user).teaches_in(school.pk)  # cached

    assert client_for(owner).delete(f"/api/schools/{school.pk}/").status_code == 204

    assert Viewer.for_user(teacher.user).roles == {}
