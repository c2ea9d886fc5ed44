"""Redis stops, or stops answering, while the API serves: answers come from the database (slower, never
wrong, never a 500), readiness says ``degraded``, and when Redis is back the cache is used again.

Each test runs its own ``redis-server`` on a free port (the machine's shared Redis is never touched) and
points the app's cache and channel layer at it, with the production options (``REDIS_URL``'s settings)."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings
from django.utils import timezone

from chalkboard.common import cache as versioned_cache
from chalkboard.common import throttling
from chalkboard.common.breaker import breakers_reset
from chalkboard.earnings.models import EarningEntry
from tests import factories as f
from tests.conftest import client_for
from tests.reliability.faults import RedisServer
from tests.security.test_limits import rates

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

SLOW = 2.0  # seconds: no request may hang on a cache that is gone
RETRY = 0.3  # seconds between the breaker's tries, for these tests


@pytest.fixture
def redis_server(tmp_path):
    if RedisServer.binary is None:
        pytest.skip("needs the redis-server binary")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def on_own_redis(redis_server, monkeypatch):
    """The app's cache on the test's own Redis, configured as in production, with a breaker that tries
    Redis again every ``RETRY`` seconds."""
    assert settings.CACHES["default"]["BACKEND"] == "chalkboard.common.redis_cache.BreakerRedisCache"
    cache_config = {**settings.CACHES["default"], "LOCATION": redis_server.url, "KEY_PREFIX": "fault-test"}
    monkeypatch.setattr(versioned_cache, "_missed_bumps", set())
    breakers_reset()
    try:
        with override_settings(CACHES={"default": cache_config}, REDIS_RETRY_SECONDS=RETRY):
            yield redis_server
    finally:
        breakers_reset()


def after_the_retry_interval():
    """Redis is back: each process finds out at its breaker's next try."""
    time.sleep(RETRY + 0.05)


def timed(call):
    start = time.monotonic()
    response = call()
    return response, time.monotonic() - start


def without_clock(page):
    body = json.loads(page.content)
    body.pop("generated_at")
    return body


def test_redis_stopped_then_restarted(world, on_own_redis, django_assert_num_queries, django_assert_max_num_queries):
    redis_server = on_own_redis
    teacher = client_for(world.teacher.user)
    dashboard = f"/api/teachers/{world.teacher.pk}/dashboard/"

    # Redis up: the dashboard is built once, then served from the cache at the cost of the token lookup.
    first = teacher.get(dashboard)
    assert first.status_code == 200
    with django_assert_num_queries(1):
        assert teacher.get(dashboard).content == first.content
    assert teacher.get("/readyz").json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}

    redis_server.stop()

    # Redis down: the same page, from the database; every answer quick and none a 500.
    response, seconds = timed(lambda: teacher.get(dashboard))
    assert response.status_code == 200
    assert seconds < SLOW
    assert without_clock(response) == without_clock(first)
    with django_assert_max_num_queries(100) as built:
        teacher.get(dashboard)
    assert len(built.captured_queries) > 5  # built from the database: no cache to read it from
    ready = teacher.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "checks": {"database": "ok", "cache": "down"}}
    user = f.UserFactory()
    login, seconds = timed(
        lambda: client_for(None).post("/api/auth/token/", {"email": user.email, "password": f.PASSWORD}, format="json")
    )
    assert login.status_code == 200
    assert seconds < SLOW
    for path in ("/api/me/", "/api/sessions/", "/api/assessments/", f"/api/students/{world.student.pk}/progress/"):
        response, seconds = timed(lambda path=path: teacher.get(path))
        assert response.status_code == 200, path
        assert seconds < SLOW, path

    # A write while Redis is down: committed, and seen at once (the page is built from the database).
    started = f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=1))
    completed = teacher.post(
        f"/api/sessions/{started.pk}/complete/",
        {"attendance": [{"student_id": world.student.pk, "status": "present"}], "actual_duration_minutes": 45},
        format="json",
    )
    assert completed.status_code == 200
    assert EarningEntry.objects.filter(session=started).count() == 1
    assert started.pk not in [item["id"] for item in teacher.get(dashboard).json()["to_complete"]]

    redis_server.start()  # an empty Redis on the same address, as after a restart
    after_the_retry_interval()

    assert teacher.get("/readyz").json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}
    rebuilt = teacher.get(dashboard)
    assert rebuilt.status_code == 200
    with django_assert_num_queries(1):
        again = teacher.get(dashboard)
    assert again.content == rebuilt.content
    assert json.loads(again.content)["earnings"]["pending"] != json.loads(first.content)["earnings"]["pending"]


@time_machine.travel("2026-11-27 10:00:10", tick=False)  # one window throughout
def test_while_redis_is_down_failed_logins_are_counted_in_the_process(on_own_redis, api_client, monkeypatch):
    """The documented direction (SECURITY.md): without the shared counters, the login limits are counted
    in each process (the other scopes let requests through); the shared limits are back with Redis."""
    redis_server = on_own_redis
    user = f.UserFactory()
    wrong = {"email": user.email, "password": "wrong"}

    def attempts(count):
        return [api_client.post("/api/auth/token/", wrong, format="json").status_code for _ in range(count)]

    monkeypatch.setattr(throttling, "_local_counters", LocMemCache("fault-test", {}))
    with rates(login_account_address="2/min"):
        assert attempts(3) == [400, 400, 429]
        redis_server.stop()
        assert attempts(3) == [400, 400, 429]  # a new count, in this process
        redis_server.start()
        after_the_retry_interval()
        assert attempts(3) == [400, 400, 429]  # the shared count, in a Redis that restarted empty


def test_redis_that_stops_answering_then_comes_back_with_its_old_pages(world, on_own_redis, django_assert_num_queries):
    """Frozen rather than gone (SIGSTOP): calls time out instead of being refused. The cached pages are
    still in Redis when it thaws, so the version bumps missed meanwhile must be replayed before the next
    read, or it would serve a page older than a committed write."""
    redis_server = on_own_redis
    teacher = client_for(world.teacher.user)
    dashboard = f"/api/teachers/{world.teacher.pk}/dashboard/"
    before = teacher.get(dashboard).json()
    started = f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=1))

    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        completed, seconds = timed(
            lambda: teacher.post(
                f"/api/sessions/{started.pk}/complete/",
                {"attendance": [{"student_id": world.student.pk, "status": "present"}], "actual_duration_minutes": 30},
                format="json",
            )
        )
        assert completed.status_code == 200
        assert seconds < 10  # each cache call gives up after SOCKET_TIMEOUT
        assert teacher.get("/readyz").json()["checks"]["cache"] == "down"
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    after_the_retry_interval()

    after = teacher.get(dashboard).json()
    assert after["earnings"]["pending"] != before["earnings"]["pending"]
    assert versioned_cache._missed_bumps == set()
    with django_assert_num_queries(1):
        assert teacher.get(dashboard).json()["earnings"] == after["earnings"]
