from __future__ import annotations

import pytest
from django.utils import timezone

from chalkboard.activity.models import ActivityLog
from chalkboard.scheduling.services import SESSION_NOT_CANCELLABLE
from tests.scheduling.conftest import MANAGE_STATUS, ROLES, cancel_url, finish, stored

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ROLES)
def test_who_may_cancel_a_session(world, client_as, role):
    response = client_as(role).post(cancel_url(world.session.pk), {"reason": "Ill"}, format="json")

    assert response.status_code == MANAGE_STATUS[role], response.json()
    world.session.refresh_from_db()
    assert (world.session.status == "cancelled") == (response.status_code == 200)


def test_cancelling_records_when_and_why_bumps_the_version_and_is_logged(world, client_as):
    before = timezone.now()

    response = client_as("teacher").post(cancel_url(world.session.pk), {"reason": "Teacher ill"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["version"]) == ("cancelled", 2)
    world.session.refresh_from_db()
    assert world.session.cancellation_reason == "Teacher ill"
    assert before <= world.session.cancelled_at <= timezone.now()
    entry = ActivityLog.objects.get(verb="session.cancelled")
    assert (entry.actor, entry.object_id, entry.school_id, entry.teacher_id) == (
        world.teacher.user,
        world.session.pk,
        world.school.pk,
        world.teacher.pk,
    )
    assert entry.data == {"reason": "Teacher ill"}


def test_a_reason_is_optional(world, client_as):
    response = client_as("admin").post(cancel_url(world.session.pk))

    assert response.status_code == 200
    world.session.refresh_from_db()
    assert (world.session.status, world.session.cancellation_reason) == ("cancelled", "")


@pytest.mark.parametrize("status", ["completed", "no_show", "cancelled"])
def test_a_final_session_cannot_be_cancelled(world, client_as, status):
    finish(world.session, status)

    response = client_as("owner").post(cancel_url(world.session.pk), format="json")

    assert response.status_code == 409
    assert response.json() == {"status": 409, "code": "conflict", "message": SESSION_NOT_CANCELLABLE[status]}
    world.session.refresh_from_db()
    assert world.session.status == status
    assert not ActivityLog.objects.filter(verb="session.cancelled").exists()


def test_cancelling_twice_is_a_conflict(world, client_as):
    client = client_as("owner")

    first = client.post(cancel_url(world.session.pk), format="json")
    second = client.post(cancel_url(world.session.pk), format="json")

    assert (first.status_code, second.status_code) == (200, 409)
    assert second.json()["message"] == SESSION_NOT_CANCELLABLE["cancelled"]
    assert (stored(world.session)["status"], stored(world.session)["version"]) == ("cancelled", 2)
    assert ActivityLog.objects.filter(verb="session.cancelled").count() == 1


@pytest.mark.parametrize("payload", [{"reason": "x" * 501}, {"reason": ["ill"]}, {"reason": None}])
def test_an_invalid_reason_answers_400(world, client_as, payload):
    before = stored(world.session)

    response = client_as("owner").post(cancel_url(world.session.pk), payload, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["reason"]
    assert stored(world.session) == before
    assert not ActivityLog.objects.filter(verb="session.cancelled").exists()


def test_a_session_of_another_school_cannot_be_cancelled_and_stays_hidden(world, other_world, client_as):
    response = client_as("owner").post(cancel_url(other_world.session.pk), format="json")

    assert response.status_code == 404
    other_world.session.refresh_from_db()
    assert other_world.session.status == "scheduled"


@pytest.mark.parametrize("method", ["get", "delete"])
def test_cancel_is_a_post(world, client_as, method):
    response = getattr(client_as("owner"), method)(cancel_url(world.session.pk))

    assert response.status_code == 405
    assert stored(world.session)["status"] == "scheduled"
