"""Concurrent completions of one session, each request on its own database connection (PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from chalkboard.common.models import IdempotencyRecord
from chalkboard.earnings.models import EarningEntry
from chalkboard.realtime.models import Event
from chalkboard.scheduling.models import Session
from tests import factories as f
from tests.conftest import client_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REQUESTS = 20


def fire(requests):
    """Send every request at once from its own thread; the answers, in thread order."""
    barrier = threading.Barrier(len(requests))
    answers = [None] * len(requests)

    def run(index, send):
        try:
            barrier.wait()
            answers[index] = send()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, send)) for index, send in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.fixture
def started(world):
    return f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=1))


def body(world):
    return {"attendance": [{"student_id": world.student.pk, "status": "present"}], "actual_duration_minutes": 55}


def test_twenty_concurrent_completions_pay_exactly_once(world, started):
    clients = [client_for(world.teacher.user) for _ in range(REQUESTS)]
    path = f"/api/sessions/{started.pk}/complete/"

    answers = fire([lambda c=client: c.post(path, body(world), format="json") for client in clients])

    assert Counter(answer.status_code for answer in answers) == {200: 1, 409: REQUESTS - 1}
    assert {answer.json()["code"] for answer in answers if answer.status_code == 409} == {"session_completed"}
    assert EarningEntry.objects.filter(session=started).count() == 1
    assert Session.objects.get(pk=started.pk).version == 2
    assert Event.objects.filter(type="session.completed").count() == 1


def test_concurrent_duplicates_with_one_key_run_once_and_replay(world, started):
    clients = [client_for(world.teacher.user) for _ in range(REQUESTS)]
    path = f"/api/sessions/{started.pk}/complete/"

    answers = fire(
        [lambda c=client: c.post(path, body(world), format="json", HTTP_IDEMPOTENCY_KEY="once") for client in clients]
    )

    assert [answer.status_code for answer in answers] == [200] * REQUESTS
    assert len({answer.content for answer in answers}) == 1
    assert sum(not answer.has_header("Idempotent-Replayed") for answer in answers) == 1
    assert EarningEntry.objects.filter(session=started).count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert Event.objects.filter(type="session.completed").count() == 1


def test_a_completion_and_a_no_show_racing_leave_one_outcome(world, started):
    teacher, owner = client_for(world.teacher.user), client_for(world.owner)
    complete = f"/api/sessions/{started.pk}/complete/"
    no_show = f"/api/sessions/{started.pk}/no-show/"
    requests = [lambda: teacher.post(complete, body(world), format="json")] * 5
    requests += [lambda: owner.post(no_show, {}, format="json")] * 5

    answers = fire(requests)

    assert Counter(answer.status_code for answer in answers) == {200: 1, 409: 9}
    assert EarningEntry.objects.filter(session=started).count() == 1
    assert Session.objects.get(pk=started.pk).status in ("completed", "no_show")
