"""The dashboard socket and the channel layer when Redis is away: a live socket closes with 1011, a
handshake is answered at once and served from the event log, and nothing raises into a consumer."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer

from chalkboard.common.breaker import RedisUnavailable, breakers_reset
from chalkboard.realtime import consumers, publishing
from chalkboard.realtime.consumers import CLOSE_INTERNAL_ERROR, DashboardConsumer
from chalkboard.realtime.layers import LAYER_UNAVAILABLE, RedisChannelLayer
from chalkboard.realtime.publishing import event_publish, staff_group
from tests.realtime.conftest import aemit, closed_with, connect_as, receive, run_async
from tests.reliability.faults import free_port


@pytest.fixture
def gone_layer(settings):
    """Our Redis channel layer on a port where nothing listens."""
    breakers_reset()
    settings.REDIS_RETRY_SECONDS = 60
    yield RedisChannelLayer(hosts=[f"redis://127.0.0.1:{free_port()}/0"])
    breakers_reset()


@run_async
async def test_a_layer_without_redis_fails_fast_with_one_error_and_one_log_line(gone_layer, caplog):
    with caplog.at_level(logging.WARNING):
        with pytest.raises(RedisUnavailable):
            await gone_layer.group_add("school.1.staff", "specific.x!y")
        assert gone_layer.breaker.is_open
        started = time.monotonic()
        for call in (
            gone_layer.group_add("school.1.staff", "specific.x!y"),
            gone_layer.group_discard("school.1.staff", "specific.x!y"),
            gone_layer.group_send("school.1.staff", {"type": "events.available", "id": 1}),
            gone_layer.send("specific.x!y", {"type": "events.available", "id": 1}),
        ):
            with pytest.raises(RedisUnavailable):
                await call
        assert time.monotonic() - started < 0.1
    assert [record.name for record in caplog.records] == ["chalkboard.redis"]


@run_async
async def test_a_receive_without_redis_answers_one_unavailable_message_then_waits(gone_layer):
    channel = await gone_layer.new_channel()
    assert await gone_layer.receive(channel) == {"type": LAYER_UNAVAILABLE}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(gone_layer.receive(channel), 0.2)
    gone_layer.forget(channel)
    assert channel not in gone_layer.unavailable_told


@run_async
async def test_a_receive_that_fails_otherwise_is_logged_and_still_told_as_unavailable(gone_layer, monkeypatch, caplog):
    async def broken(self, channel):
        raise AssertionError("a bug in the layer")

    monkeypatch.setattr(BaseRedisChannelLayer, "receive", broken)
    channel = await gone_layer.new_channel()
    with caplog.at_level(logging.ERROR, logger="chalkboard.realtime"):
        assert await gone_layer.receive(channel) == {"type": LAYER_UNAVAILABLE}
    assert "a bug in the layer" in caplog.text
    assert channel in gone_layer.unavailable_told


@run_async
async def test_an_answer_from_redis_closes_the_layers_breaker(gone_layer):
    gone_layer.breaker.failed(ConnectionError())
    gone_layer.breaker._open_until = 1.0  # the interval is over: the next call probes

    async def answered_with_an_error():
        raise ValueError("a Redis answer")

    with pytest.raises(ValueError, match="a Redis answer"):
        await gone_layer.guarded(answered_with_an_error(), timeout=1)
    assert not gone_layer.breaker.is_open

    async def answered():
        return "OK"

    assert await gone_layer.guarded(answered(), timeout=None) == "OK"


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_live_socket_whose_channel_fails_closes_with_1011(world, no_poll):
    admin = await connect_as(world.admin)
    await get_channel_layer().group_send(staff_group(world.school.pk), {"type": LAYER_UNAVAILABLE})
    assert await closed_with(admin) == CLOSE_INTERNAL_ERROR


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_socket_whose_handler_raises_closes_with_1011_and_says_why(world, no_poll, monkeypatch, caplog):
    async def broken(self, content, **kwargs):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(DashboardConsumer, "receive_json", broken)
    admin = await connect_as(world.admin)
    await admin.send_json_to({"type": "ping"})
    assert await closed_with(admin) == CLOSE_INTERNAL_ERROR
    assert "closing it with 1011" in caplog.text
    assert "a bug in a handler" in caplog.text


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_handshake_that_raises_before_accepting_is_left_to_the_server(world, monkeypatch):
    def broken(user):
        raise RuntimeError("a bug before the handshake")

    monkeypatch.setattr(consumers, "audience_load", broken)
    with pytest.raises(RuntimeError, match="a bug before the handshake"):
        await connect_as(world.admin)


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_handshake_while_redis_is_away_is_served_from_the_log(world, fast_poll, monkeypatch, caplog):
    layer_class = type(get_channel_layer())

    async def away(self, *args):
        raise RedisUnavailable("redis 127.0.0.1:6379")

    monkeypatch.setattr(layer_class, "group_add", away)
    monkeypatch.setattr(layer_class, "group_discard", away)
    admin = await connect_as(world.admin)  # accepted: no 500, no wait
    event = await aemit(world.school.pk, None)
    assert [message["id"] for message in await receive(admin)] == [event.pk]  # read by the hub's poll
    await admin.disconnect()
    assert "Traceback" not in caplog.text
    assert "could not leave" not in caplog.text


def test_a_socket_served_from_the_log_ignores_its_channel_failing_and_keeps_its_groups_empty(world):
    consumer = DashboardConsumer()
    consumer.live = False
    ended = []

    async def fail():
        ended.append(True)

    consumer.fail = fail  # type: ignore[method-assign]
    asyncio.run(consumer.layer_unavailable({"type": LAYER_UNAVAILABLE}))
    assert ended == []


def test_a_socket_served_from_the_log_follows_new_roles_without_the_channel_layer(world):
    from chalkboard.realtime.consumers import audience_load

    consumer = DashboardConsumer()
    consumer.live = False
    consumer.audience = audience_load(world.teacher.user)
    consumer.outbox = asyncio.Queue()
    admin_audience = audience_load(world.admin)
    assert asyncio.run(consumer.follow(admin_audience)) is True
    assert consumer.audience == admin_audience
    assert consumer.joined == frozenset()


def test_a_nudge_that_finds_redis_away_is_dropped_without_a_line_of_its_own(monkeypatch, caplog):
    async def away(layer, groups, message):
        raise RedisUnavailable("redis 127.0.0.1:6379")

    monkeypatch.setattr(publishing, "_send_all", away)
    with caplog.at_level(logging.WARNING, logger="chalkboard.realtime"):
        event_publish(event_id=43, school_id=1, teacher_id=None)
    assert caplog.text == ""


@pytest.mark.django_db(transaction=True)
@run_async
async def test_leaving_the_groups_when_redis_is_away_adds_no_line_of_its_own(world, no_poll, monkeypatch, caplog):
    admin = await connect_as(world.admin)

    async def away(self, group, channel):
        raise RedisUnavailable("redis 127.0.0.1:6379")

    monkeypatch.setattr(type(get_channel_layer()), "group_discard", away)
    with caplog.at_level(logging.WARNING):
        await admin.disconnect()
    assert "could not leave" not in caplog.text
