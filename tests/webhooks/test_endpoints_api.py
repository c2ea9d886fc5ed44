"""Webhook endpoints over the API: made, listed, changed, re-keyed and deleted by a school's owners and
admins; the delivery log and redelivery. (Who gets what from each operation: tests/security/matrix.py.)"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from chalkboard.activity.models import ActivityLog
from chalkboard.webhooks import outbound, services
from chalkboard.webhooks.models import Delivery, Endpoint
from tests.webhooks.conftest import emit, run_jobs
from tests.webhooks.receivers import Answer, Receiver, running

pytestmark = pytest.mark.django_db
LIST = "/api/webhook-endpoints/"


def _create(client, school_id: int, url: str = "https://hooks.example.com/in", **fields):
    return client.post(LIST, {"school_id": school_id, "url": url, **fields}, format="json")


def test_making_an_endpoint_shows_its_secret_once(world, as_user):
    admin = as_user(world.admin)
    response = _create(admin, world.school.pk, event_types=["session.completed", "session.completed"])
    assert response.status_code == 201
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) == 50
    assert created["event_types"] == ["session.completed"]
    assert created["is_active"] is True
    assert created["disabled_reason"] == ""
    shown = admin.get(f"{LIST}{created['id']}/").json()
    assert "secret" not in shown
    assert shown == {key: value for key, value in created.items() if key != "secret"}
    assert "secret" not in admin.get(LIST).json()["results"][0]
    endpoint = Endpoint.objects.get(pk=created["id"])
    assert endpoint.created_by == world.admin
    log = ActivityLog.objects.get(verb="webhook_endpoint.created", object_id=endpoint.pk)
    assert created["secret"] not in str(log.data)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.2/in", outbound.ADDRESS_REFUSED),
        ("https://10.0.0.1/in", outbound.ADDRESS_REFUSED),
        ("https://169.254.169.254/latest/meta-data/", outbound.ADDRESS_REFUSED),
        ("https://[::1]/in", outbound.ADDRESS_REFUSED),
        ("https://me:secret@hooks.example.com/in", outbound.CREDENTIALS_REFUSED),
        ("ftp://hooks.example.com/in", None),
    ],
)
def test_an_address_that_can_never_be_an_endpoint_is_refused(world, as_user, url, message):
    response = _create(as_user(world.owner), world.school.pk, url=url)
    assert response.status_code == 400
    assert "url" in response.json()["fields"]
    if message:
        assert response.json()["fields"]["url"] == [message]
    assert not Endpoint.objects.exists()


def test_plain_http_is_refused_where_the_deployment_requires_https(world, as_user, settings):
    settings.WEBHOOKS_REQUIRE_HTTPS = True
    response = _create(as_user(world.owner), world.school.pk, url="http://hooks.example.com/in")
    assert response.status_code == 400
    assert response.json()["fields"]["url"] == [outbound.HTTPS_REQUIRED]


def test_unknown_event_types_and_other_schools_are_refused(world, other_world, as_user):
    owner = as_user(world.owner)
    assert _create(owner, world.school.pk, event_types=["session.exploded"]).status_code == 400
    response = _create(owner, other_world.school.pk)
    assert response.status_code == 400
    assert response.json()["fields"] == {"school_id": [services.UNKNOWN_SCHOOL]}
    assert _create(as_user(world.teacher.user), world.school.pk).status_code == 403


def test_a_school_has_at_most_twenty_endpoints(world, as_user):
    owner = as_user(world.owner)
    for number in range(services.MAX_ENDPOINTS_PER_SCHOOL):
        assert _create(owner, world.school.pk, url=f"https://hooks.example.com/{number}").status_code == 201
    response = _create(owner, world.school.pk)
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_endpoints"


def test_staff_see_only_their_schools_endpoints(world, other_world, as_user):
    _create(as_user(world.owner), world.school.pk)
    _create(as_user(other_world.owner), other_world.school.pk)
    mine = as_user(world.admin).get(LIST).json()
    assert [item["school_id"] for item in mine["results"]] == [world.school.pk]
    assert as_user(world.teacher.user).get(LIST).json()["count"] == 0


def test_changing_an_endpoint(world, as_user):
    owner = as_user(world.owner)
    endpoint_id = _create(owner, world.school.pk).json()["id"]
    changed = owner.patch(
        f"{LIST}{endpoint_id}/",
        {"url": "https://hooks.example.org/new", "event_types": ["assessment.created"], "description": "CRM"},
        format="json",
    )
    assert changed.status_code == 200
    assert (changed.json()["url"], changed.json()["event_types"], changed.json()["description"]) == (
        "https://hooks.example.org/new",
        ["assessment.created"],
        "CRM",
    )
    refused = owner.patch(f"{LIST}{endpoint_id}/", {"url": "https://192.168.0.1/"}, format="json")
    assert refused.status_code == 400
    disabled = owner.patch(f"{LIST}{endpoint_id}/", {"is_active": False}, format="json").json()
    assert disabled["is_active"] is False
    assert disabled["disabled_reason"]
    assert disabled["disabled_at"]
    enabled = owner.patch(f"{LIST}{endpoint_id}/", {"is_active": True}, format="json").json()
    assert enabled["is_active"] is True
    assert enabled["disabled_reason"] == ""
    assert enabled["disabled_at"] is None
    assert owner.patch(f"{LIST}{endpoint_id}/", {}, format="json").json() == enabled


def test_rotating_the_secret_shows_the_new_one_once(world, as_user):
    owner = as_user(world.owner)
    created = _create(owner, world.school.pk).json()
    rotated = owner.post(f"{LIST}{created['id']}/rotate-secret/", {"overlap_seconds": 3600}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != created["secret"]
    assert rotated.json()["previous_secret_expires_at"]
    endpoint = Endpoint.objects.get(pk=created["id"])
    assert (endpoint.secret, endpoint.previous_secret) == (rotated.json()["secret"], created["secret"])
    too_long = owner.post(f"{LIST}{created['id']}/rotate-secret/", {"overlap_seconds": 8 * 86400}, format="json")
    assert too_long.status_code == 400


def test_deleting_an_endpoint_deletes_its_log(world, as_user):
    owner = as_user(world.owner)
    endpoint_id = _create(owner, world.school.pk).json()["id"]
    assert owner.delete(f"{LIST}{endpoint_id}/").status_code == 204
    assert owner.get(f"{LIST}{endpoint_id}/").status_code == 404
    assert not Delivery.objects.exists()


def test_the_delivery_log_shows_every_attempt_and_redelivery_is_refused_while_disabled(world, as_user, clock):
    owner = as_user(world.owner)
    with running(Receiver(answer=lambda n: Answer(500, b"oops") if n == 0 else Answer(204, b""))) as receiver:
        endpoint_id = _create(owner, world.school.pk, url=receiver.url).json()["id"]
        emit(world.school.pk, world.teacher.pk, count=2)
        run_jobs(world.school.pk)
        head = Delivery.objects.filter(endpoint_id=endpoint_id).order_by("event_id").first()
        clock.move_to(head.next_attempt_at)
        services.endpoint_deliver(endpoint_id=endpoint_id)

    log = owner.get(f"{LIST}{endpoint_id}/deliveries/").json()
    assert log["count"] == 2
    newest, oldest = log["results"]
    assert newest["event_id"] > oldest["event_id"]
    assert newest["status"] == "delivered"
    assert oldest["webhook_id"] == f"evt_{oldest['event_id']}"
    assert [(a["outcome"], a["status_code"], a["response_excerpt"]) for a in oldest["attempts"]] == [
        ("http_error", 500, "oops"),
        ("delivered", 204, ""),
    ]
    assert all(a["latency_ms"] is not None and a["trigger"] == "scheduled" for a in oldest["attempts"])

    redeliver = f"{LIST}{endpoint_id}/deliveries/{oldest['id']}/redeliver/"
    assert owner.post(redeliver).status_code == 202
    owner.patch(f"{LIST}{endpoint_id}/", {"is_active": False}, format="json")
    refused = owner.post(redeliver)
    assert refused.status_code == 409
    assert refused.json()["message"] == services.DISABLED
    assert owner.get(reverse("webhook-delivery-list", kwargs={"endpoint_id": endpoint_id + 1000})).status_code == 404


def test_another_endpoints_delivery_is_not_found(world, as_user):
    owner = as_user(world.owner)
    first = _create(owner, world.school.pk).json()["id"]
    second = _create(owner, world.school.pk, url="https://hooks.example.com/two").json()["id"]
    delivery = Delivery.objects.create(endpoint_id=first, event_id=1, event_type="session.updated", payload="{}",
                                       next_attempt_at=timezone.now())  # fmt: skip
    assert owner.post(f"{LIST}{second}/deliveries/{delivery.pk}/redeliver/").status_code == 404
    assert owner.post(f"{LIST}{first}/deliveries/{delivery.pk}/redeliver/").status_code == 202
