from __future__ import annotations

import pytest
from rest_framework.test import APIRequestFactory

from chalkboard.schools.access import Action, Viewer, ViewerMixin, ids_visible, viewer_of
from chalkboard.schools.models import Role
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_a_deactivated_user_has_no_roles_anywhere(world):
    world.owner.is_active = False

    viewer = Viewer.for_user(world.owner)

    assert viewer.roles == {}
    assert not viewer.can(Action.SCHOOL_VIEW, world.school.pk)


def test_roles_come_from_every_active_membership(world, other_world):
    f.member(school=world.school, role=Role.TEACHER, user=world.owner)
    f.member(school=other_world.school, role=Role.GUARDIAN, user=world.owner)

    viewer = Viewer.for_user(world.owner)

    assert viewer.roles_in(world.school.pk) == {Role.OWNER, Role.TEACHER}
    assert viewer.schools_allowing(Action.PEOPLE_MANAGE) == [world.school.pk]
    assert viewer.schools_allowing(Action.SCHOOL_VIEW) == sorted([world.school.pk, other_world.school.pk])


def test_ids_visible_keeps_the_requested_order():
    assert ids_visible([5, 1, 9, 3], visible={3, 5, 7}) == [5, 3]


def test_the_viewer_is_built_once_per_request(world, django_assert_num_queries):
    request = APIRequestFactory().get("/")
    request.user = world.admin

    class View(ViewerMixin):
        pass

    view = View()
    view.request = request
    with django_assert_num_queries(1):
        assert view.viewer is viewer_of(request)
    assert view.viewer.is_staff_of(world.school.pk)
