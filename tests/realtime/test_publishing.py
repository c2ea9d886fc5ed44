from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache

from chalkboard.common.breaker import breakers_reset
from chalkboard.common.cache import versions_get
from chalkboard.realtime import publishing
from chalkboard.realtime.publishing import announcements_channel, announcements_follow, events_announce
from tests.reliability.faults import free_port


class RecordingHub:
    def __init__(self) -> None:
        self.nudged: list[int] = []

    def nudge_from_any_thread(self, event_id: int) -> None:
        self.nudged.append(event_id)


@contextlib.contextmanager
def local_hub(hub):
    publishing.local_hub_add(hub)
    try:
        yield hub
    finally:
        publishing.local_hub_remove(hub)


def test_the_channel_is_the_deployments_own(settings):
    settings.CACHE_KEY_PREFIX = "school-network-a"
    assert announcements_channel() == "school-network-a:events.available"


def test_without_redis_the_hubs_of_this_process_are_told_after_the_bumps(settings):
    if settings.REDIS_URL:
        pytest.skip("the embedded default's path")
    seen = []

    class Hub:
        def nudge_from_any_thread(self, event_id: int) -> None:
            seen.append((event_id, versions_get(["v:a"])["v:a"]))

    with local_hub(Hub()):
        events_announce(event_id=7, scopes=["v:a"])
    assert seen == [(7, 1)]


def test_a_hub_whose_loop_has_closed_does_not_stop_the_others(monkeypatch):
    monkeypatch.setattr(publishing, "versions_bump", lambda scopes, publish: False)  # Redis did not carry it
    loop = asyncio.new_event_loop()
    loop.close()

    class Closed:
        def nudge_from_any_thread(self, event_id: int) -> None:
            loop.call_soon_threadsafe(print, event_id)  # RuntimeError: the loop is closed

    closed, alive = Closed(), RecordingHub()
    with local_hub(closed), local_hub(alive):
        events_announce(event_id=8, scopes=[])
    assert alive.nudged == [8]


def test_a_hub_removed_is_told_nothing(monkeypatch):
    monkeypatch.setattr(publishing, "versions_bump", lambda scopes, publish: False)
    hub = RecordingHub()
    with local_hub(hub):
        pass
    events_announce(event_id=9, scopes=[])
    assert hub.nudged == []


def own_local_ports() -> set[int]:
    """The local ports of this process's TCP sockets (Linux: /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if match := re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/self/fd/{fd}")):
                inodes.add(match.group(1))
    ports = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/self/net/{table}") as rows:
            next(rows)
            for row in rows:
                columns = row.split()
                if columns[9] in inodes:
                    ports.add(int(columns[1].rsplit(":", 1)[1], 16))
    return ports


def redis_clients() -> int:
    """Connections to Redis held by this process. Other test processes share the server, so its whole client
    list would count their connections opening and closing too."""
    import redis
    from django.conf import settings

    with redis.Redis.from_url(settings.REDIS_URL) as probe:
        clients = probe.client_list()
        ours = own_local_ports()
    return sum(1 for client in clients if int(client["addr"].rsplit(":", 1)[1]) in ours) - 1  # less the probe


@pytest.mark.redis
def test_on_redis_the_bumps_and_the_announcement_are_one_round_trip_in_that_order(settings):
    import redis

    sent = []
    real_execute = redis.client.Pipeline.execute

    def execute(pipe, *args, **kwargs):
        sent.append([command[0][0] for command in pipe.command_stack])
        return real_execute(pipe, *args, **kwargs)

    with redis.Redis.from_url(settings.REDIS_URL) as client, client.pubsub() as pubsub:
        pubsub.subscribe(announcements_channel())
        assert pubsub.get_message(timeout=3)["type"] == "subscribe"
        hub = RecordingHub()
        with local_hub(hub), pytest.MonkeyPatch.context() as patch:
            patch.setattr(redis.client.Pipeline, "execute", execute)
            events_announce(event_id=41, scopes=["v:a", "v:b"])
        message = pubsub.get_message(timeout=3)

    assert message["type"] == "message"
    assert message["data"] == b"41"
    assert sent == [["INCRBY", "EXPIRE", "INCRBY", "EXPIRE", "PUBLISH"]]
    assert versions_get(["v:a", "v:b"]) == {"v:a": 1, "v:b": 1}
    assert hub.nudged == []  # Redis carried it: this process's hubs hear it from their subscription


@pytest.mark.redis
def test_an_announcement_redis_does_not_take_goes_to_this_processs_hubs(monkeypatch, caplog):
    monkeypatch.setattr(cache.breaker, "allow", lambda: False)  # Redis is known to be away
    hub = RecordingHub()
    with caplog.at_level(logging.WARNING), local_hub(hub):
        events_announce(event_id=42, scopes=["v:a"])
    assert hub.nudged == [42]
    assert caplog.text == ""


async def _follow(until_nudged: int, *, publish: list[str], quiet_for: float = 0.0) -> tuple[list[int], int]:
    """Follow the announcements, publish ``publish`` once subscribed (after ``quiet_for`` seconds), and stop
    after ``until_nudged`` nudges: the ids nudged and the number of subscriptions made."""
    import redis.asyncio as aioredis
    from django.conf import settings

    nudged: list[int] = []
    subscribed = asyncio.Event()
    done = asyncio.Event()
    subscriptions = 0

    def on_subscribed() -> None:
        nonlocal subscriptions
        subscriptions += 1
        subscribed.set()

    def nudge(event_id: int) -> None:
        nudged.append(event_id)
        if len(nudged) == until_nudged:
            done.set()

    follower = asyncio.create_task(announcements_follow(nudge, on_subscribed=on_subscribed))
    try:
        await asyncio.wait_for(subscribed.wait(), 3)
        await asyncio.sleep(quiet_for)
        async with aioredis.Redis.from_url(settings.REDIS_URL) as client:
            for data in publish:
                await client.publish(announcements_channel(), data)
        await asyncio.wait_for(done.wait(), 3)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
    return nudged, subscriptions


@pytest.mark.redis
def test_a_follower_nudges_with_each_id_announced_and_ignores_anything_else():
    nudged, subscriptions = async_to_sync(_follow)(2, publish=["5", "not an id", "6"])
    assert nudged == [5, 6]
    assert subscriptions == 1


@pytest.mark.redis
def test_a_follower_cancelled_leaves_no_connection_behind():
    before = redis_clients()
    async_to_sync(_follow)(1, publish=["1"])
    assert redis_clients() == before


@pytest.mark.redis
def test_a_follower_tries_again_once_per_interval_until_redis_answers(settings, caplog):
    """Redis away: no subscription, and a line from the breaker at most once per interval; once Redis
    answers, it subscribes."""
    real = settings.REDIS_URL
    breakers_reset()
    settings.REDIS_RETRY_SECONDS = 0.2
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    async def scenario() -> None:
        subscribed = asyncio.Event()
        follower = asyncio.create_task(announcements_follow(lambda event_id: None, on_subscribed=subscribed.set))
        try:
            await asyncio.sleep(0.5)  # two or three attempts
            assert not subscribed.is_set()
            settings.REDIS_URL = real  # Redis is back
            await asyncio.wait_for(subscribed.wait(), 3)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    try:
        with caplog.at_level(logging.WARNING, logger="chalkboard.redis"):
            async_to_sync(scenario)()
    finally:
        breakers_reset()
    lines = [record.getMessage() for record in caplog.records]
    assert 1 <= len([line for line in lines if "is unavailable" in line]) <= 0.5 / 0.2 + 1, lines


@pytest.mark.redis
def test_a_subscription_that_fails_otherwise_is_logged_and_made_again(monkeypatch, settings, caplog):
    settings.REDIS_RETRY_SECONDS = 0.05
    import redis.asyncio.client

    real_get_message = redis.asyncio.client.PubSub.get_message
    calls = []

    async def get_message(pubsub, **kwargs):
        calls.append(True)
        if len(calls) == 1:
            raise AssertionError("a bug in the subscription")
        return await real_get_message(pubsub, **kwargs)

    monkeypatch.setattr(redis.asyncio.client.PubSub, "get_message", get_message)
    with caplog.at_level(logging.ERROR, logger="chalkboard.realtime"):
        nudged, subscriptions = async_to_sync(_follow)(1, publish=["3"])
    assert nudged == [3]
    assert subscriptions == 1
    assert "a bug in the subscription" in caplog.text
    assert len(calls) >= 2


@pytest.mark.redis
def test_a_quiet_subscription_keeps_its_connection_by_asking_redis(monkeypatch):
    """Nothing announced for five keepalive intervals: the answers to its pings keep it subscribed. (An
    interval long enough that a busy test machine answers a ping well within it.)"""
    monkeypatch.setattr(publishing, "KEEPALIVE_SECONDS", 0.25)
    nudged, subscriptions = async_to_sync(_follow)(1, publish=["11"], quiet_for=1.25)
    assert nudged == [11]
    assert subscriptions == 1


@pytest.mark.redis
def test_a_subscription_that_goes_silent_is_given_up_and_made_again(monkeypatch, settings, caplog):
    """A connection gone without a reset answers nothing, not even a ping: after twice the keepalive
    interval the subscription is made anew (and the hub reads the log at once, as at any subscription)."""
    import redis.asyncio.client

    settings.REDIS_RETRY_SECONDS = 0.05
    monkeypatch.setattr(publishing, "KEEPALIVE_SECONDS", 0.05)
    breakers_reset()

    async def unanswered(pubsub, *args):
        return None  # the ping never reaches Redis

    monkeypatch.setattr(redis.asyncio.client.PubSub, "ping", unanswered)

    async def scenario() -> int:
        subscriptions = 0
        twice = asyncio.Event()

        def on_subscribed() -> None:
            nonlocal subscriptions
            subscriptions += 1
            if subscriptions == 2:
                twice.set()

        follower = asyncio.create_task(announcements_follow(lambda event_id: None, on_subscribed=on_subscribed))
        try:
            await asyncio.wait_for(twice.wait(), 3)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        return subscriptions

    try:
        with caplog.at_level(logging.WARNING, logger="chalkboard.redis"):
            assert async_to_sync(scenario)() == 2
    finally:
        breakers_reset()
    assert "went silent" in caplog.text
