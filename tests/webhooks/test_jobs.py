"""The job runner behind webhooks: a commit in a school with an endpoint queues its planning; a Dramatiq
worker (on Redis where the suite has it, on the stub broker otherwise) runs the jobs end to end; the
embedded default runs a worker inside its server."""

from __future__ import annotations

import io
import threading
import time

import dramatiq
import pytest
import redis
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from chalkboard.common import jobs as runner
from chalkboard.common.breaker import breaker_for, breakers_reset
from chalkboard.schools.access import Viewer
from chalkboard.webhooks import jobs, services
from chalkboard.webhooks.models import Delivery, DeliveryStatus
from tests.webhooks.conftest import emit, endpoint_for
from tests.webhooks.receivers import Answer, Receiver, running

WAIT_SECONDS = 20


def _sent(monkeypatch, actor) -> list[tuple]:
    """What is queued for ``actor`` from now on (its arguments), instead of queueing it."""
    sent: list[tuple] = []
    monkeypatch.setattr(actor, "send_with_options", lambda *, args=(), **options: sent.append(tuple(args)))
    return sent


@pytest.mark.django_db(transaction=True)
def test_a_commit_queues_planning_only_for_schools_that_may_have_an_active_endpoint(
    world, other_world, receiver, monkeypatch
):
    sent = _sent(monkeypatch, jobs.webhooks_plan)
    with CaptureQueriesContext(connection) as queries:
        emit(world.school.pk, world.teacher.pk)
    assert sent == [(world.school.pk,)]  # not known yet: its planning finds out
    assert not [query for query in queries.captured_queries if "webhooks_endpoint" in query["sql"]]
    assert services.endpoints_plan(school_id=world.school.pk) == []  # none: remembered
    emit(world.school.pk, world.teacher.pk)
    assert len(sent) == 1

    endpoint = endpoint_for(world.admin, world.school.pk, receiver)  # its commit forgets what was remembered
    services.endpoints_plan(school_id=other_world.school.pk)
    emit(world.school.pk, world.teacher.pk, count=2)
    emit(other_world.school.pk, other_world.teacher.pk)
    assert sent == [(world.school.pk,)] * 3
    assert services.schools_with_endpoints(frozenset({world.school.pk, other_world.school.pk})) == [world.school.pk]

    services.endpoint_update(viewer=Viewer.for_user(world.admin), endpoint=endpoint, is_active=False)
    emit(world.school.pk, world.teacher.pk)  # disabled: its events are still planned
    assert len(sent) == 4
    services.endpoint_delete(viewer=Viewer.for_user(world.admin), endpoint=endpoint)
    emit(world.school.pk, world.teacher.pk)  # not known since the deletion: its planning finds out
    assert len(sent) == 5
    services.endpoints_plan(school_id=world.school.pk)
    emit(world.school.pk, world.teacher.pk)
    assert len(sent) == 5


@pytest.mark.django_db(transaction=True)
def test_a_worker_delivers_every_event_in_order_and_wakes_for_a_retry(world, clock, monkeypatch):
    """The jobs the commits queued, run by a worker of the deployment's broker. While it works, this thread
    leaves the database alone (the suite's SQLite is one in-memory database that threads share by table
    locks): it waits on the receiver, and on the job that schedules the retry's wake."""
    broker = dramatiq.get_broker()
    broker.flush_all()
    scheduled, schedule = threading.Event(), jobs.webhook_deliver.send_with_options

    def wake_scheduled(**options):
        schedule(**options)
        if options.get("delay"):  # (``send`` comes this way too, with none)
            scheduled.set()

    monkeypatch.setattr(jobs.webhook_deliver, "send_with_options", wake_scheduled)
    with running(Receiver(answer=lambda n: Answer(503) if n == 0 else Answer())) as receiver:
        endpoint_for(world.admin, world.school.pk, receiver)
        events = emit(world.school.pk, world.teacher.pk, count=3)
        worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
        worker.start()
        try:
            assert scheduled.wait(WAIT_SECONDS), "no wake was scheduled for the retry"
            assert len(receiver.received) == 1
            # The retry's delay passes (the broker reads the same clock).
            clock.shift((services.RETRY_DELAYS[0] * (1 + services.JITTER)).total_seconds() + 1)
            _wait_for(lambda: len(receiver.delivered()) == 3)
        finally:
            worker.stop()
            broker.flush_all()
    assert receiver.event_ids() == [event.pk for event in events]
    assert all(request.verified["current"] for request in receiver.received)
    assert [d.status for d in Delivery.objects.order_by("event_id")] == [DeliveryStatus.DELIVERED] * 3


def _wait_for(condition) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        time.sleep(0.02)


@pytest.mark.django_db
def test_the_sweep_queues_what_the_database_says_is_owed(world, receiver, monkeypatch):
    planned, delivered = _sent(monkeypatch, jobs.webhooks_plan), _sent(monkeypatch, jobs.webhook_deliver)
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    emit(world.school.pk, world.teacher.pk)
    services.endpoints_plan(school_id=world.school.pk)
    output = io.StringIO()
    call_command("webhooks_sweep", stdout=output)
    assert output.getvalue() == "queued planning for 1 schools, delivery to 1 endpoints\n"
    assert planned == [(world.school.pk,)]
    assert delivered == [(endpoint.pk,)]


@pytest.mark.django_db
def test_the_deliver_job_schedules_one_wake_for_a_retry(world, monkeypatch):
    later: list[dict] = []
    monkeypatch.setattr(jobs.webhook_deliver, "send_with_options", lambda **options: later.append(options))
    with running(Receiver(answer=lambda n: Answer(500))) as receiver:
        endpoint = endpoint_for(world.admin, world.school.pk, receiver)
        emit(world.school.pk, world.teacher.pk)
        services.endpoints_plan(school_id=world.school.pk)
        # The clock stands still while the job reckons the delay from now: moving, the time the attempt took
        # came off it, and a retry jittered to its shortest (4 s) was scheduled a few milliseconds sooner.
        with time_machine.travel(timezone.now(), tick=False):
            jobs.webhook_deliver(endpoint.pk)
            jobs.webhook_deliver(endpoint.pk)  # the same retry waiting: no second wake
    assert len(later) == 1
    assert later[0]["args"] == (endpoint.pk,)
    assert 4_000 <= later[0]["delay"] <= 6_100


@pytest.mark.django_db
def test_the_plan_and_redeliver_jobs(world, receiver, monkeypatch):
    delivered = _sent(monkeypatch, jobs.webhook_deliver)
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    (event,) = emit(world.school.pk, world.teacher.pk)
    jobs.webhooks_plan(world.school.pk)
    assert delivered == [(endpoint.pk,)]
    services.endpoint_deliver(endpoint_id=endpoint.pk)
    delivery = Delivery.objects.get(endpoint=endpoint)
    jobs.webhook_redeliver(delivery.pk)
    assert receiver.event_ids() == [event.pk, event.pk]
    endpoint.is_active = False
    endpoint.save()
    jobs.webhook_redeliver(delivery.pk)  # disabled meanwhile: nothing sent
    assert len(receiver.received) == 2


def test_the_broker_is_redis_where_the_deployment_has_it_and_the_stub_broker_otherwise(settings):
    original = dramatiq.get_broker()
    try:
        settings.JOBS_BROKER_URL = "redis://127.0.0.1:6379/15"
        settings.JOBS_HEARTBEAT_TIMEOUT_MS = 1234
        redis = runner.broker_setup()
        assert isinstance(redis, RedisBroker)
        assert redis.heartbeat_timeout == 1234
        assert redis.client.connection_pool.connection_kwargs["socket_timeout"] == settings.REDIS_TIMEOUT_SECONDS
        assert dramatiq.get_broker() is redis
        assert any(isinstance(m, runner.DatabaseConnections) for m in redis.middleware)
        settings.JOBS_BROKER_URL = ""
        assert isinstance(runner.broker_setup(), StubBroker)
    finally:
        dramatiq.set_broker(original)


def test_the_embedded_default_runs_a_worker_inside_its_server(settings, monkeypatch):
    stub = StubBroker()
    monkeypatch.setattr(dramatiq, "get_broker", lambda: stub)
    settings.JOBS_WORKER_IN_SERVER = False
    assert runner.worker_start_in_server() is None
    settings.JOBS_WORKER_IN_SERVER = True
    worker = runner.worker_start_in_server()
    try:
        assert isinstance(worker, dramatiq.Worker)
        assert worker.broker is stub
    finally:
        worker.stop()
    monkeypatch.setattr(dramatiq, "get_broker", lambda: RedisBroker(url="redis://127.0.0.1:6379/15"))
    assert runner.worker_start_in_server() is None


@pytest.mark.django_db
def test_a_job_skipped_or_ended_leaves_no_stale_connection(monkeypatch):
    closed: list[str] = []
    monkeypatch.setattr(runner, "close_old_connections", lambda: closed.append("old"))
    monkeypatch.setattr(runner.connections, "close_all", lambda: closed.append("all"))
    middleware, broker = runner.DatabaseConnections(), dramatiq.get_broker()
    middleware.before_process_message(broker, None)
    middleware.after_process_message(broker, None)
    middleware.after_skip_message(broker, None)
    middleware.before_worker_thread_shutdown(broker, None)
    assert closed == ["old", "old", "old", "all"]


def test_a_job_queued_from_a_request_never_fails_it_when_the_queue_is_away(settings, monkeypatch):
    """The queue's Redis refuses: the job is not queued and the caller goes on; then, for the breaker's
    interval, nobody even tries (one timeout per interval, as for every client of Redis)."""
    settings.JOBS_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    away = RedisBroker(client=redis.Redis(port=1, retry=None), namespace="away")
    attempts: list[int] = []
    actor = dramatiq.actor(lambda n: None, actor_name="probe", queue_name="probe", broker=away)
    enqueue = away.enqueue
    monkeypatch.setattr(away, "enqueue", lambda message, **kw: attempts.append(1) or enqueue(message, **kw))
    breakers_reset()
    assert runner.job_send(actor, 1) is False
    assert runner.job_send(actor, 2, delay_ms=5) is False
    assert attempts == [1]  # the second was not even tried
    breaker = breaker_for(settings.JOBS_BROKER_URL)
    assert breaker.is_open

    monkeypatch.setattr(away, "enqueue", lambda message, **kw: message)  # Redis answers again
    monkeypatch.setattr(breaker, "allow", lambda: True)
    assert runner.job_send(actor, 3) is True
    assert not breaker.is_open


@pytest.mark.django_db
def test_a_listener_that_fails_after_a_commit_is_logged_and_the_request_goes_on(world, monkeypatch, caplog):
    from chalkboard.realtime.services import _OnCommit
    from chalkboard.realtime.signals import events_committed

    def broken(sender, **kwargs):
        raise RuntimeError("listener broke")

    events_committed.connect(broken, dispatch_uid="broken-listener")
    try:
        _OnCommit()()  # what a commit runs
    finally:
        events_committed.disconnect(dispatch_uid="broken-listener")
    assert "events_committed" in caplog.text
    assert "listener broke" in caplog.text


def test_on_the_stub_broker_a_job_is_always_queued():
    stub = StubBroker()
    actor = dramatiq.actor(lambda n: None, actor_name="stub_probe", queue_name="probe", broker=stub)
    assert runner.job_send(actor, 1) is True
    assert runner.job_send(actor, 2, delay_ms=1000) is True
    assert stub.queues["probe"].qsize() == 1  # the delayed one waits on its delay queue
    assert stub.queues["probe.DQ"].qsize() == 1
