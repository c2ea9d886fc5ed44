"""A job worker SIGKILLed in the middle of a webhook delivery, on PostgreSQL and Redis: every event is still
delivered, in order, and none twice to the receiver that answered 2xx.

Real workers (``dramatiq config.jobs``, as ``bin/jobs-worker`` runs them) serve the test's own database and
Redis queue. The receiver holds its third request until the test has killed the worker's whole process group
with SIGKILL, then answers 503 to the dead connection. A second worker finds the dead one's job back on the
queue (its heartbeat stopped: Dramatiq's maintenance requeues it) and delivers from where the first stopped.

Every wait is bounded and every process started here is killed, whatever happens."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from chalkboard.webhooks.models import Attempt, AttemptOutcome
from tests.reliability.faults import sessions_now
from tests.webhooks.conftest import emit, endpoint_for
from tests.webhooks.receivers import Answer, Receiver, running

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.wall_clock, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 60.0
EVENTS = 5
HELD = 2  # the receiver holds its third request


def worker_env(tmp_path: Path) -> dict[str, str]:
    """The test's own database and queue; a worker that stops beating is dead after 1.5 s, and every call to
    Redis checks for dead workers (production: 30 s, one call in a hundred)."""
    db = connection.settings_dict
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_XDIST_WORKER"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        JOBS_BROKER_URL=settings.JOBS_BROKER_URL,
        JOBS_NAMESPACE=settings.JOBS_NAMESPACE,
        JOBS_HEARTBEAT_TIMEOUT_MS="1500",
        JOBS_MAINTENANCE_CHANCE="1000000",
        CHALKBOARD_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="webhook-worker-kill-test-only",
        CONN_MAX_AGE="0",
        PYTHONPATH=str(ROOT),
    )
    return env


class Worker:
    """``dramatiq config.jobs`` in a session of its own, so SIGKILL reaches every process of it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "config.jobs", "--processes", "1", "--threads", "2"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STEP_TIMEOUT)


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_worker_killed_mid_delivery_loses_nothing_and_delivers_nothing_twice(world, tmp_path):
    import dramatiq

    dramatiq.get_broker().flush_all()
    killed = threading.Event()

    def answer(number: int) -> Answer:
        if number == HELD:
            killed.wait(STEP_TIMEOUT)
            return Answer(503, b"too late")
        return Answer()

    env, workers = worker_env(tmp_path), []
    earlier = sessions_now()  # this test's own, and any another test of this process left behind
    try:
        with running(Receiver(answer=answer)) as receiver:
            workers.append(Worker(env, tmp_path / "worker-1.log"))
            endpoint = endpoint_for(world.admin, world.school.pk, receiver)
            events = emit(world.school.pk, world.teacher.pk, count=EVENTS)
            wait_for(lambda: len(receiver.received) > HELD, "the held request")
            in_flight = Attempt.objects.get(delivery__endpoint=endpoint, outcome=AttemptOutcome.IN_FLIGHT)
            assert in_flight.delivery.event_id == events[HELD].pk

            workers[0].kill()
            killed.set()
            workers.append(Worker(env, tmp_path / "worker-2.log"))
            wait_for(lambda: len(receiver.delivered()) == EVENTS, "every event delivered")

            assert receiver.event_ids() == [event.pk for event in events]
            assert all(request.verified["current"] for request in receiver.received)
            in_flight.refresh_from_db()
            assert in_flight.outcome == AttemptOutcome.IN_FLIGHT  # the log shows the attempt the kill cut short
            time.sleep(1.0)  # anything sent twice would have arrived by now
            assert len(receiver.delivered()) == EVENTS
    finally:
        for worker in workers:
            worker.kill()
        dramatiq.get_broker().flush_all()
        wait_for(lambda: not sessions_now() - earlier, "the killed workers' database sessions to end")
