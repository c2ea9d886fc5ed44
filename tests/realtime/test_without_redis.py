"""The dashboard socket when Redis is away: a socket stays open and is served from the event log, a handshake
is answered at once, and nothing raises into a consumer."""

from __future__ import annotations

import logging

import pytest

from chalkboard.common.breaker import breakers_reset
from chalkboard.realtime import consumers
from chalkboard.realtime.consumers import CLOSE_INTERNAL_ERROR, DashboardConsumer
from tests.realtime.conftest import aemit, closed_with, connect_as, receive, run_async
from tests.reliability.faults import free_port


@pytest.fixture
def redis_gone(settings):
    """The socket side's Redis on a port where nothing listens (the writers' cache is left as it is)."""
    breakers_reset()
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_RETRY_SECONDS = 60
    yield
    breakers_reset()


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_socket_whose_hub_cannot_subscribe_is_served_from_the_log(world, fast_poll, redis_gone, caplog):
    with caplog.at_level(logging.WARNING):
        admin = await connect_as(world.admin)  # accepted: no 500, no wait
        event = await aemit(world.school.pk, None)
        # Read by the hub's poll (or told by the writer, when it runs in this process without Redis).
        assert [message["id"] for message in await receive(admin)] == [event.pk]
        later = await aemit(world.school.pk, None)
        assert [message["id"] for message in await receive(admin)] == [later.pk]
        await admin.disconnect()
    assert "Traceback" not in caplog.text
    assert [record.name for record in caplog.records if record.levelno >= logging.WARNING] == ["chalkboard.redis"]


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
