"""The breaker in front of each Redis server: one try per interval while Redis is away, one log line per
interval, and a cache that answers at once as if empty."""

from __future__ import annotations

import logging
import time
from unittest import mock

import pytest
from django_redis.cache import RedisCache

from chalkboard.common.breaker import Breaker, breaker_for, breakers_reset, server_of
from chalkboard.common.redis_cache import BreakerRedisCache
from tests.reliability.faults import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():  # overrides the test clock: this one is the breaker's monotonic clock
    return Clock()


@pytest.fixture
def breaker(clock):
    return Breaker("redis test:1", interval=5.0, clock=clock)


def test_a_failure_opens_it_and_every_call_is_refused_until_the_interval_ends(breaker, clock):
    assert breaker.allow()
    assert not breaker.is_open
    breaker.failed(ConnectionError("refused"))
    assert breaker.is_open
    assert [breaker.allow() for _ in range(3)] == [False] * 3
    clock.now += 5.0
    # One probe per interval: the calls beside it are still refused.
    assert [breaker.allow() for _ in range(3)] == [True, False, False]


def test_a_probe_that_succeeds_closes_it(breaker, clock, caplog):
    breaker.failed(TimeoutError("read"))
    breaker.allow()
    clock.now += 5.0
    assert breaker.allow()
    with caplog.at_level(logging.WARNING, logger="chalkboard.redis"):
        breaker.succeeded()
        breaker.succeeded()  # already closed: nothing more to say
    assert not breaker.is_open
    lines = [record.getMessage() for record in caplog.records if "answers again" in record.getMessage()]
    assert lines == ["redis test:1 answers again (1 calls went without it)"]
    assert breaker.allow()


def test_a_probe_that_fails_keeps_it_open_another_interval(breaker, clock):
    breaker.failed(TimeoutError("read"))
    clock.now += 5.0
    assert breaker.allow()
    breaker.failed(TimeoutError("read"))
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_failures_are_logged_once_per_interval_with_the_count_of_the_others(breaker, clock, caplog):
    with caplog.at_level(logging.WARNING, logger="chalkboard.redis"):
        for _ in range(50):  # concurrent calls that were in flight when Redis froze
            breaker.failed(TimeoutError("Timeout reading from socket"))
        for _ in range(7):
            breaker.allow()
        clock.now += 5.0
        breaker.allow()
        breaker.failed(TimeoutError("Timeout reading from socket"))
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("redis test:1 is unavailable (TimeoutError: Timeout reading from socket)")
    assert "(56 more calls failed or went without it since the last report)" in lines[1]


def test_a_closed_breaker_is_not_reopened_by_a_late_success_check(breaker, clock):
    breaker.failed(ConnectionError())
    clock.now += 5.0
    assert breaker.allow()
    breaker.succeeded()
    # Two threads raced for the lock: the second one finds it closed already.
    breaker._open_until = 0.0
    assert breaker.allow()


def test_a_breaker_reopened_under_a_waiting_caller_lets_it_through():
    breaker = Breaker("redis race:1", interval=5.0)
    breaker.failed(ConnectionError())

    class ClosesWhileWaiting:
        def __enter__(self):
            breaker._open_until = 0.0  # another thread closed it while this one waited for the lock

        def __exit__(self, *exc):
            return False

    breaker._lock = ClosesWhileWaiting()  # type: ignore[assignment]
    assert breaker.allow()
    breaker._open_until = 1.0
    breaker.succeeded()  # closed while this one waited: says nothing


def test_every_client_of_one_server_shares_its_breaker(settings):
    settings.REDIS_RETRY_SECONDS = 2
    breakers_reset()
    assert server_of("redis://10.1.2.3:6380/4") == "redis 10.1.2.3:6380"
    assert server_of("redis://cache") == "redis cache:6379"
    assert server_of("redis://127.0.0.1:6379/1,redis://127.0.0.1:6379/2") == "redis 127.0.0.1:6379"
    one = breaker_for("redis://127.0.0.1:6379/1")
    assert breaker_for("redis://127.0.0.1:6379/9") is one
    assert breaker_for("redis://127.0.0.1:6390/1") is not one
    assert one.interval == 2
    one.failed(ConnectionError())
    settings.REDIS_RETRY_SECONDS = 7
    breakers_reset()
    assert not one.is_open  # closed, and still the one its clients hold
    assert breaker_for("redis://127.0.0.1:6379/1") is one
    assert one.interval == 7


@pytest.fixture
def gone_cache(settings):
    """The cache backend of production on a port where nothing listens."""
    breakers_reset()
    settings.REDIS_RETRY_SECONDS = 60
    location = f"redis://127.0.0.1:{free_port()}/0"
    options = {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5}
    yield BreakerRedisCache(location, {"OPTIONS": options})
    breakers_reset()


def test_a_cache_that_is_gone_answers_as_if_empty_and_then_stops_asking(gone_cache, caplog):
    with caplog.at_level(logging.WARNING):
        assert gone_cache.get("k", "default") == "default"
        assert gone_cache.breaker.is_open
        with mock.patch.object(RedisCache, "get_many") as asked, mock.patch.object(RedisCache, "incr") as incr:
            started = time.monotonic()
            assert gone_cache.get_many(["a", "b"]) == {}
            assert gone_cache.get("k", default=3) == 3
            assert gone_cache.incr("counter") is None
            assert gone_cache.add("k", 1) is None
            assert time.monotonic() - started < 0.1
        asked.assert_not_called()
        incr.assert_not_called()
    assert [record.name for record in caplog.records] == ["chalkboard.redis"]  # one line, no traceback
    assert caplog.records[0].exc_info is None


def test_an_answer_from_redis_closes_the_breaker_even_when_it_is_an_error(gone_cache):
    gone_cache.breaker.failed(ConnectionError())
    gone_cache.breaker._open_until = 1.0  # the interval is over: the next call probes
    with (
        mock.patch.object(RedisCache, "incr", side_effect=ValueError("Key 'x' not found")),
        pytest.raises(ValueError, match="not found"),
    ):
        gone_cache.incr("x")
    assert not gone_cache.breaker.is_open
    with mock.patch.object(RedisCache, "set", return_value=True):
        assert gone_cache.set("k", 1) is True


def test_version_bumps_on_a_cache_that_is_gone_are_refused_then_not_asked(gone_cache):
    assert gone_cache.incr_versions(["v:a", "v:b"], 60) is False
    assert gone_cache.breaker.is_open
    with mock.patch.object(gone_cache.client, "get_client") as asked:
        assert gone_cache.incr_versions(["v:a"], 60) is False
    asked.assert_not_called()


def test_a_cache_given_several_locations_follows_the_first_ones_server(settings):
    breakers_reset()
    cache = BreakerRedisCache(["redis://127.0.0.1:6391/0", "redis://127.0.0.1:6392/0"], {"OPTIONS": {}})
    assert cache.breaker.name == "redis 127.0.0.1:6391"
    breakers_reset()
