"""Delivering a school's events to its webhook endpoints: signed (verified with the reference library), in
the school's commit order, at least once, retried on the schedule, and disabled with the reason when the
schedule is spent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from chalkboard.activity.models import ActivityLog
from chalkboard.common.errors import Forbidden, ValidationFailed
from chalkboard.realtime.models import EventType
from chalkboard.schools.access import Viewer
from chalkboard.webhooks import outbound, services
from chalkboard.webhooks.models import Attempt, AttemptOutcome, AttemptTrigger, Delivery, DeliveryStatus
from tests.webhooks.conftest import emit, endpoint_for, run_jobs
from tests.webhooks.receivers import Answer, Receiver, running

pytestmark = pytest.mark.django_db


def _due_next(endpoint_id: int) -> Delivery:
    return Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).order_by("event_id")[0]


def test_every_event_goes_signed_once_and_in_order(world, receiver):
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    events = emit(world.school.pk, world.teacher.pk, count=5)
    run_jobs(world.school.pk)

    assert receiver.event_ids() == [event.pk for event in events]
    assert receiver.verified_with("current") == [True] * 5
    first = receiver.received[0]
    assert first.headers["webhook-id"] == f"evt_{events[0].pk}"
    assert first.headers["content-type"] == "application/json"
    assert first.path == "/hooks/chalkboard?from=tests"
    body = json.loads(first.body)
    assert body["type"] == "session.updated"
    assert body["data"] == {
        "id": events[0].pk,
        "type": "session.updated",
        "occurred_at": body["timestamp"],
        "school_id": world.school.pk,
        "teacher_id": world.teacher.pk,
        "data": {"session_id": 0},
    }
    deliveries = Delivery.objects.filter(endpoint=endpoint)
    assert [d.status for d in deliveries] == [DeliveryStatus.DELIVERED] * 5
    attempt = Attempt.objects.filter(delivery__endpoint=endpoint).first()
    assert (attempt.outcome, attempt.status_code, attempt.response_excerpt) == (AttemptOutcome.DELIVERED, 200, "ok")
    assert attempt.latency_ms is not None

    run_jobs(world.school.pk)  # nothing new: nothing sent again
    assert len(receiver.received) == 5


def test_only_what_the_endpoint_subscribes_to_and_only_its_schools_events_from_its_making_on(
    world, other_world, receiver
):
    emit(world.school.pk, world.teacher.pk)  # before the endpoint: not owed
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    services.endpoint_update(
        viewer=Viewer.for_user(world.admin), endpoint=endpoint, event_types=[EventType.SESSION_CANCELLED]
    )
    emit(other_world.school.pk, other_world.teacher.pk, type=EventType.SESSION_CANCELLED)
    emit(world.school.pk, world.teacher.pk, type=EventType.SESSION_UPDATED)
    wanted = emit(world.school.pk, None, type=EventType.SESSION_CANCELLED)
    run_jobs(world.school.pk)
    run_jobs(other_world.school.pk)
    assert receiver.event_ids() == [wanted[0].pk]


def test_a_failure_is_retried_on_schedule_and_the_later_events_wait_behind_it(world, clock):
    failures = 2
    with running(Receiver(answer=lambda n: Answer(500, b"down") if n < failures else Answer())) as receiver:
        endpoint = endpoint_for(world.admin, world.school.pk, receiver)
        events = emit(world.school.pk, world.teacher.pk, count=3)
        started = timezone.now()
        run_jobs(world.school.pk)
        assert len(receiver.received) == 1  # the first failed; the others wait behind it
        head = _due_next(endpoint.pk)
        assert head.event_id == events[0].pk
        assert head.failed_attempts == 1
        first_delay = services.RETRY_DELAYS[0].total_seconds()
        waited = (head.next_attempt_at - started).total_seconds()
        assert first_delay * (1 - services.JITTER) <= waited <= first_delay * (1 + services.JITTER) + 1

        assert services.endpoint_deliver(endpoint_id=endpoint.pk) == head.next_attempt_at  # not due yet
        assert len(receiver.received) == 1
        for _ in range(failures):
            clock.move_to(_due_next(endpoint.pk).next_attempt_at)
            services.endpoint_deliver(endpoint_id=endpoint.pk)
        assert receiver.event_ids() == [event.pk for event in events]
        outcomes = list(
            Attempt.objects.filter(delivery__event_id=events[0].pk).order_by("id").values_list("outcome", "status_code")
        )
        assert outcomes == [(AttemptOutcome.HTTP_ERROR, 500)] * 2 + [(AttemptOutcome.DELIVERED, 200)]


def test_a_receiver_down_for_an_hour_gets_every_event_in_order_once_it_is_back(world, clock):
    down = {"until": timezone.now() + timedelta(hours=1)}
    answer = lambda n: Answer(503, b"maintenance") if timezone.now() < down["until"] else Answer()  # noqa: E731
    with running(Receiver(answer=answer)) as receiver:
        endpoint = endpoint_for(world.admin, world.school.pk, receiver)
        events = []
        for _ in range(12):  # an event every 6 minutes, for 72 minutes
            events += emit(world.school.pk, world.teacher.pk)
            run_jobs(world.school.pk)
            clock.shift(timedelta(minutes=6))
        # The retries go on at their times until everything is through.
        for _ in range(20):
            pending = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING)
            if not pending.exists():
                break
            clock.move_to(max(_due_next(endpoint.pk).next_attempt_at, timezone.now()))
            services.endpoint_deliver(endpoint_id=endpoint.pk)
        assert receiver.event_ids() == [event.pk for event in events]
        assert all(request.verified["current"] for request in receiver.received)
        assert len(receiver.received) > len(events)  # the failed attempts, answered 503


def test_an_endpoint_failing_until_the_schedule_is_spent_is_disabled_with_the_reason_and_resumes_when_enabled(
    world, clock
):
    state = {"up": False}
    answer = lambda n: Answer() if state["up"] else Answer(500, b"broken")  # noqa: E731
    with running(Receiver(answer=answer)) as receiver:
        endpoint = endpoint_for(world.admin, world.school.pk, receiver)
        events = emit(world.school.pk, world.teacher.pk, count=2)
        started = timezone.now()
        run_jobs(world.school.pk)
        while True:
            endpoint.refresh_from_db()
            if not endpoint.is_active:
                break
            clock.move_to(_due_next(endpoint.pk).next_attempt_at)
            services.endpoint_deliver(endpoint_id=endpoint.pk)
        assert len(receiver.received) == 1 + len(services.RETRY_DELAYS)
        spent = sum(delay.total_seconds() for delay in services.RETRY_DELAYS)
        hours = (timezone.now() - started).total_seconds()
        assert spent * (1 - services.JITTER) <= hours <= spent * (1 + services.JITTER) + 60
        assert "8 failed attempts" in endpoint.disabled_reason
        assert "HTTP 500" in endpoint.disabled_reason
        assert ActivityLog.objects.filter(verb="webhook_endpoint.disabled", object_id=endpoint.pk).exists()
        # While disabled, its events are still planned, and nothing is sent.
        events += emit(world.school.pk, world.teacher.pk)
        assert services.endpoints_plan(school_id=world.school.pk) == []
        assert services.endpoint_deliver(endpoint_id=endpoint.pk) is None
        assert Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).count() == 3
        # Nothing was dropped: enabled again, it resumes where it stopped, with everything since.
        state["up"] = True
        services.endpoint_update(viewer=Viewer.for_user(world.owner), endpoint=endpoint, is_active=True)
        services.endpoint_deliver(endpoint_id=endpoint.pk)
        assert receiver.event_ids() == [event.pk for event in events]


def test_during_a_rotation_both_secrets_sign_and_after_its_overlap_only_the_new_one(world, receiver, clock):
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    receiver.secrets["old"] = receiver.secrets.pop("current")
    new = services.endpoint_rotate_secret(
        viewer=Viewer.for_user(world.admin), endpoint=endpoint, overlap=timedelta(hours=2)
    )
    receiver.secrets["new"] = new
    emit(world.school.pk, world.teacher.pk)
    run_jobs(world.school.pk)
    assert receiver.received[-1].verified == {"old": True, "new": True}
    assert len(receiver.received[-1].headers["webhook-signature"].split(" ")) == 2

    clock.shift(timedelta(hours=2, seconds=1))
    emit(world.school.pk, world.teacher.pk)
    run_jobs(world.school.pk)
    assert receiver.received[-1].verified == {"old": False, "new": True}

    services.endpoint_rotate_secret(viewer=Viewer.for_user(world.admin), endpoint=endpoint, overlap=timedelta(0))
    emit(world.school.pk, world.teacher.pk)
    run_jobs(world.school.pk)
    assert receiver.received[-1].verified == {"old": False, "new": False}


def test_a_slow_receiver_times_out_and_is_tried_again(world, monkeypatch):
    monkeypatch.setattr(outbound, "READ_TIMEOUT_SECONDS", 0.2)
    with running(Receiver(answer=lambda n: Answer(delay=1.0) if n == 0 else Answer())) as receiver:
        endpoint = endpoint_for(world.admin, world.school.pk, receiver)
        emit(world.school.pk, world.teacher.pk)
        run_jobs(world.school.pk)
        attempt = Attempt.objects.get(delivery__endpoint=endpoint)
        assert attempt.outcome == AttemptOutcome.TIMEOUT
        assert attempt.status_code is None
        assert "ReadTimeoutError" in attempt.error
        assert _due_next(endpoint.pk).failed_attempts == 1


def test_a_redirect_is_not_followed_and_the_answer_is_read_only_up_to_the_limit(world):
    elsewhere = {"Location": "http://127.0.0.1:1/elsewhere"}
    long_body = b"x" * (outbound.EXCERPT_BYTES * 5)
    with running(Receiver(answer=lambda n: Answer(302, long_body, headers=elsewhere))) as receiver:
        endpoint = endpoint_for(world.admin, world.school.pk, receiver)
        emit(world.school.pk, world.teacher.pk)
        run_jobs(world.school.pk)
        attempt = Attempt.objects.get(delivery__endpoint=endpoint)
        assert (attempt.outcome, attempt.status_code) == (AttemptOutcome.HTTP_ERROR, 302)
        assert attempt.response_excerpt == "x" * outbound.EXCERPT_BYTES
        assert len(receiver.received) == 1


def test_a_receiver_that_is_not_listening_is_a_connection_error(world):
    with running(Receiver()) as gone:
        pass  # started and stopped: its port is closed now
    endpoint = endpoint_for(world.admin, world.school.pk, gone)
    emit(world.school.pk, world.teacher.pk)
    run_jobs(world.school.pk)
    attempt = Attempt.objects.get(delivery__endpoint=endpoint)
    assert attempt.outcome == AttemptOutcome.CONNECTION_ERROR
    assert attempt.latency_ms is not None


def test_redelivery_sends_a_delivered_event_again_with_its_id_and_makes_a_pending_one_due(world, clock):
    with running(Receiver(answer=lambda n: Answer(500) if n == 1 else Answer())) as receiver:
        endpoint = endpoint_for(world.admin, world.school.pk, receiver)
        first, second = emit(world.school.pk, world.teacher.pk, count=2)
        run_jobs(world.school.pk)
        delivered = Delivery.objects.get(endpoint=endpoint, event_id=first.pk)
        pending = Delivery.objects.get(endpoint=endpoint, event_id=second.pk)
        assert pending.status == DeliveryStatus.PENDING
        assert pending.next_attempt_at > timezone.now()

        admin = Viewer.for_user(world.admin)
        services.delivery_redeliver(viewer=admin, delivery=pending)  # made due now (its job runs on commit)
        assert services.endpoint_deliver(endpoint_id=endpoint.pk) is None
        services.delivery_redeliver(viewer=admin, delivery=delivered)
        services.delivery_send_again(delivery_id=delivered.pk)
        assert receiver.event_ids() == [first.pk, second.pk, first.pk]
        assert receiver.received[-1].headers["webhook-id"] == f"evt_{first.pk}"
        manual = Attempt.objects.filter(delivery=delivered).order_by("id").last()
        assert manual.trigger == AttemptTrigger.MANUAL
        assert manual.outcome == AttemptOutcome.DELIVERED


def test_one_wake_is_scheduled_however_many_jobs_find_the_same_retry_waiting(world, receiver):
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    due = timezone.now() + timedelta(minutes=5)
    assert services.endpoint_wake_at(endpoint_id=endpoint.pk, due=due) is True
    assert services.endpoint_wake_at(endpoint_id=endpoint.pk, due=due) is False
    assert services.endpoint_wake_at(endpoint_id=endpoint.pk, due=due + timedelta(minutes=1)) is False
    assert services.endpoint_wake_at(endpoint_id=endpoint.pk, due=due - timedelta(minutes=1)) is True


def test_a_second_deliverer_of_the_same_endpoint_stands_aside(world, receiver):
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    emit(world.school.pk, world.teacher.pk)
    services.endpoints_plan(school_id=world.school.pk)
    with _another_worker_delivering(endpoint.pk):
        assert services.endpoint_deliver(endpoint_id=endpoint.pk) is None
        assert receiver.received == []
    services.endpoint_deliver(endpoint_id=endpoint.pk)
    assert len(receiver.event_ids()) == 1


@contextmanager
def _another_worker_delivering(endpoint_id: int) -> Iterator[None]:
    """The endpoint's deliverer lock, held as another worker holds it: on PostgreSQL from a session of its
    own, on SQLite by another thread of the process."""
    if connection.vendor != "postgresql":
        with services._deliverer(endpoint_id) as held:
            assert held
            yield
        return
    key = [services._DELIVERER_LOCK, endpoint_id]
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
        yield
        with other.cursor() as cursor:  # let go at once (a closed session's locks go a moment later)
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    finally:
        other.close()


def test_a_backlog_is_planned_in_batches(world, receiver, monkeypatch):
    monkeypatch.setattr(services, "PLAN_BATCH", 2)
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    events = emit(world.school.pk, world.teacher.pk, count=5)
    assert services.endpoints_plan(school_id=world.school.pk) == [endpoint.pk]
    planned = Delivery.objects.filter(endpoint=endpoint).order_by("event_id")
    assert list(planned.values_list("event_id", flat=True)) == [event.pk for event in events]
    endpoint.refresh_from_db()
    assert endpoint.cursor == events[-1].pk


def test_a_delivery_made_due_while_its_deliverer_lets_go_is_delivered_by_it(world, receiver, monkeypatch):
    """The race a deliverer closes by looking again after it lets go: another job planned a delivery and,
    finding the endpoint taken, left it to the deliverer."""
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    (first,) = emit(world.school.pk, world.teacher.pk)
    services.endpoints_plan(school_id=world.school.pk)
    late: list[int] = []
    deliver = services._deliver_while_due

    def and_meanwhile_another_event(endpoint_id):
        due = deliver(endpoint_id)
        if not late:
            late.extend(event.pk for event in emit(world.school.pk, world.teacher.pk))
            services.endpoints_plan(school_id=world.school.pk)
        return due

    monkeypatch.setattr(services, "_deliver_while_due", and_meanwhile_another_event)
    assert services.endpoint_deliver(endpoint_id=endpoint.pk) is None
    assert receiver.event_ids() == [first.pk, *late]


def test_a_manual_attempt_that_fails_changes_no_schedule(world, clock):
    with running(Receiver(answer=lambda n: Answer() if n == 0 else Answer(500))) as receiver:
        endpoint = endpoint_for(world.admin, world.school.pk, receiver)
        emit(world.school.pk, world.teacher.pk)
        run_jobs(world.school.pk)
        delivery = Delivery.objects.get(endpoint=endpoint)
        attempt = services.delivery_send_again(delivery_id=delivery.pk)
        assert (attempt.trigger, attempt.outcome) == (AttemptTrigger.MANUAL, AttemptOutcome.HTTP_ERROR)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.failed_attempts) == (DeliveryStatus.DELIVERED, 0)
    assert services.delivery_send_again(delivery_id=delivery.pk + 1000) is None


def test_what_the_service_refuses_whatever_its_caller(world, receiver):
    admin = Viewer.for_user(world.admin)
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    with pytest.raises(ValidationFailed) as unknown:
        services.endpoint_update(viewer=admin, endpoint=endpoint, event_types=["session.exploded"])
    assert unknown.value.fields == {"event_types": [services.UNKNOWN_EVENT_TYPE]}
    for overlap in (timedelta(seconds=-1), services.MAX_ROTATION_OVERLAP + timedelta(seconds=1)):
        with pytest.raises(ValidationFailed):
            services.endpoint_rotate_secret(viewer=admin, endpoint=endpoint, overlap=overlap)
    with pytest.raises(Forbidden):
        services.endpoint_delete(viewer=Viewer.for_user(world.teacher.user), endpoint=endpoint)


def test_the_models_name_themselves(world, receiver):
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    (event,) = emit(world.school.pk, world.teacher.pk)
    run_jobs(world.school.pk)
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert str(endpoint) == f"webhook endpoint {endpoint.pk} @ {world.school.pk}"
    assert str(delivery) == f"delivery of event {event.pk} to endpoint {endpoint.pk}"
    assert (
        str(delivery.attempt_log.get())
        == f"attempt {delivery.attempt_log.get().pk} of delivery {delivery.pk}: delivered"
    )
