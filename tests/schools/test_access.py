from __future__ import annotations

import pytest

from chalkboard.common.errors import Forbidden
from chalkboard.schools.access import Action, Viewer, viewer_of
from chalkboard.schools.models import Membership, Role
from chalkboard.schools.services import membership_deactivate, membership_ensure
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_roles_come_from_every_active_membership(world, other_world):
    user = world.teacher.user
    f.member(school=world.school, role=Role.ADMIN, user=user)
    f.member(school=other_world.school, role=Role.GUARDIAN, user=user)

    viewer = Viewer.for_user(user)

    assert viewer.roles_in(world.school.pk) == {Role.TEACHER, Role.ADMIN}
    assert viewer.roles_in(other_world.school.pk) == {Role.GUARDIAN}
    assert viewer.is_staff_of(world.school.pk)
    assert not viewer.is_staff_of(other_world.school.pk)
    assert viewer.can(Action.EARNINGS_MANAGE, world.school.pk)
    assert not viewer.can(Action.EARNINGS_MANAGE, other_world.school.pk)
    assert viewer.schools_where(Role.TEACHER, Role.GUARDIAN) == sorted([world.school.pk, other_world.school.pk])
    assert viewer.school_ids == sorted([world.school.pk, other_world.school.pk])


def test_inactive_memberships_grant_nothing(world):
    assert Viewer.for_user(world.admin).can(Action.SCHOOL_VIEW, world.school.pk)
    membership_deactivate(membership=Membership.objects.get(user=world.admin))

    viewer = Viewer.for_user(world.admin)

    assert viewer.roles == {}
    assert not viewer.can(Action.SCHOOL_VIEW, world.school.pk)


def test_roles_are_cached_until_a_membership_changes(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        Viewer.for_user(world.admin)
    with django_assert_num_queries(0):
        assert Viewer.for_user(world.admin).is_staff_of(world.school.pk)

    membership_ensure(user=world.admin, school=world.school, role=Role.TEACHER)
    with django_assert_num_queries(1):
        assert Viewer.for_user(world.admin).teaches_in(world.school.pk)

    membership_deactivate(membership=Membership.objects.get(user=world.admin, role=Role.TEACHER))
    assert not Viewer.for_user(world.admin).teaches_in(world.school.pk)

    membership_ensure(user=world.admin, school=world.school, role=Role.TEACHER)  # back again
    assert Viewer.for_user(world.admin).teaches_in(world.school.pk)


def test_an_inactive_user_has_no_roles(world):
    world.admin.is_active = False

    assert Viewer.for_user(world.admin).roles == {}


def test_require_refuses_with_forbidden(world):
    viewer = Viewer.for_user(world.teacher.user)

    viewer.require(Action.SESSIONS_MANAGE_OWN, world.school.pk)
    with pytest.raises(Forbidden):
        viewer.require(Action.PEOPLE_MANAGE, world.school.pk)


def test_student_ids_are_the_viewers_own_active_profiles(world, other_world):
    user = world.student.user
    other_profile = f.student_in(other_world.school, user=user)
    inactive = f.student_in(f.SchoolFactory(), user=user)
    inactive.is_active = False
    inactive.save()

    viewer = Viewer.for_user(user)

    assert viewer.student_ids == {world.student.pk, other_profile.pk}
    assert viewer.ward_ids == frozenset()
    assert viewer.own_and_ward_student_ids == {world.student.pk, other_profile.pk}


def test_ward_ids_need_an_active_guardian_membership(world):
    viewer = Viewer.for_user(world.guardian)
    assert viewer.ward_ids == {world.student.pk}
    assert viewer.student_ids == frozenset()

    membership_deactivate(membership=Membership.objects.get(user=world.guardian, role=Role.GUARDIAN))
    assert Viewer.for_user(world.guardian).ward_ids == frozenset()


def test_a_teacher_id_is_the_user_id(world):
    viewer = Viewer.for_user(world.teacher.user)

    assert viewer.teacher_id == world.teacher.pk == viewer.user_id
    assert viewer.teaches_in(world.school.pk)


def test_viewer_is_built_once_per_request(world, django_assert_num_queries):
    class Request:
        user = world.admin

    request = Request()
    with django_assert_num_queries(1):  # then from the cache
        first = viewer_of(request)
        second = viewer_of(request)
    assert first is second


@pytest.mark.parametrize("role", ["teacher", "student", "guardian"])
def test_a_school_for_its_staff_only_is_not_there_for_its_other_members(world, other_world, role):
    from chalkboard.common.errors import NotFound
    from chalkboard.schools.selectors import school_get_for_staff

    assert school_get_for_staff(viewer=Viewer.for_user(world.admin), school_id=world.school.pk) == world.school
    for viewer, school in ((world.user(role), world.school), (other_world.owner, world.school)):
        with pytest.raises(NotFound):
            school_get_for_staff(viewer=Viewer.for_user(viewer), school_id=school.pk)
