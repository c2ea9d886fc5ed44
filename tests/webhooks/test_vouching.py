"""An endpoint sends the school's events wherever its URL points, so it runs only on the word of someone who
still owns or runs the school: an admin who made one and was then removed must not keep receiving the
school's events."""

from __future__ import annotations

import pytest

from chalkboard.activity.models import ActivityLog
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Membership, Role
from chalkboard.webhooks import services
from chalkboard.webhooks.models import Delivery, DeliveryStatus, Endpoint
from tests import factories as f
from tests.conftest import client_for
from tests.webhooks.conftest import emit, endpoint_for, run_jobs

pytestmark = pytest.mark.django_db


def _revoke(world, user, role=Role.ADMIN):
    """The owner removes one of the user's roles through the API."""
    membership = Membership.objects.get(user=user, school=world.school, role=role)
    answer = client_for(world.owner).delete(f"/api/schools/{world.school.pk}/members/{membership.pk}/")
    assert answer.status_code == 204, answer.content


def test_an_admin_removed_from_the_school_stops_receiving_its_events_at_once(world, receiver):
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    emit(world.school.pk, world.teacher.pk)
    run_jobs(world.school.pk)
    assert len(receiver.received) == 1

    _revoke(world, world.admin)

    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.disabled_reason == services.NO_LONGER_VOUCHED
    assert endpoint.disabled_at is not None
    audit = ActivityLog.objects.filter(verb="webhook_endpoint.disabled", object_id=endpoint.pk).get()
    assert audit.actor is None
    assert audit.data == {"reason": services.NO_LONGER_VOUCHED}

    emit(world.school.pk, world.teacher.pk, count=2)
    run_jobs(world.school.pk)
    assert len(receiver.received) == 1  # nothing after the removal
    # The events are still planned (nothing is dropped): an owner who enables it vouches for them.
    assert Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).count() == 2


def test_another_owner_or_admin_enabling_it_vouches_for_it(world, receiver):
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    _revoke(world, world.admin)
    events = emit(world.school.pk, world.teacher.pk, count=2)
    endpoint.refresh_from_db()

    services.endpoint_update(viewer=Viewer.for_user(world.owner), endpoint=endpoint, is_active=True)
    run_jobs(world.school.pk)

    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.vouched_by, endpoint.created_by) == (True, world.owner, world.admin)
    assert receiver.event_ids() == [event.pk for event in events]
    updated = ActivityLog.objects.filter(verb="webhook_endpoint.updated", object_id=endpoint.pk).get()
    assert updated.data == {"fields": ["disabled_at", "disabled_reason", "is_active"]}


def test_who_points_it_elsewhere_vouches_for_it_and_their_removal_stops_it(world, receiver):
    endpoint = endpoint_for(world.owner, world.school.pk, receiver)
    services.endpoint_update(
        viewer=Viewer.for_user(world.admin), endpoint=endpoint, url=receiver.url + "&moved=1", description="x"
    )
    endpoint.refresh_from_db()
    assert endpoint.vouched_by == world.admin

    services.endpoint_update(viewer=Viewer.for_user(world.owner), endpoint=endpoint, description="renamed")
    endpoint.refresh_from_db()
    assert endpoint.vouched_by == world.admin  # a description is no word on where it sends

    _revoke(world, world.admin)
    endpoint.refresh_from_db()
    assert not endpoint.is_active


def test_losing_one_of_two_staff_roles_or_a_role_that_is_not_staff_keeps_it_running(world, receiver):
    f.teacher_in(world.school, user=world.admin)
    f.MembershipFactory(user=world.owner, school=world.school, role=Role.ADMIN)
    by_owner = endpoint_for(world.owner, world.school.pk, receiver)
    by_admin = endpoint_for(world.admin, world.school.pk, receiver)

    _revoke(world, world.owner, role=Role.ADMIN)  # still the owner
    _revoke(world, world.admin, role=Role.TEACHER)  # still an admin

    assert set(Endpoint.objects.filter(is_active=True)) == {by_owner, by_admin}
    emit(world.school.pk, world.teacher.pk)
    run_jobs(world.school.pk)
    assert len(receiver.received) == 2


def test_a_voucher_whose_account_is_closed_is_caught_before_the_next_attempt(world, receiver):
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    emit(world.school.pk, world.teacher.pk)
    type(world.admin).objects.filter(pk=world.admin.pk).update(is_active=False)  # as Django's admin site does

    run_jobs(world.school.pk)

    assert receiver.received == []
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason) == (False, services.NO_LONGER_VOUCHED)
    assert ActivityLog.objects.filter(verb="webhook_endpoint.disabled", object_id=endpoint.pk).count() == 1


def test_a_deleted_voucher_and_a_manual_attempt_are_caught_too(world, receiver):
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    emit(world.school.pk, world.teacher.pk)
    run_jobs(world.school.pk)
    delivery = Delivery.objects.get(endpoint=endpoint)
    Endpoint.objects.filter(pk=endpoint.pk).update(vouched_by=None)  # the account deleted (SET_NULL)

    assert services.delivery_send_again(delivery_id=delivery.pk) is None

    assert len(receiver.received) == 1
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason) == (False, services.NO_LONGER_VOUCHED)
