from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import BlockingConnectionPool

from chalkboard.realtime.layers import POOL_SIZE, RedisChannelLayer
from tests.realtime.conftest import aemit, connect_as, receive, run_async


def test_the_pool_waits_for_a_connection_and_reads_longer_than_the_blocking_pop():
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:6379/15"])
    pool = layer.create_pool(0)

    assert isinstance(pool, BlockingConnectionPool)
    assert pool.max_connections == POOL_SIZE
    assert pool.timeout == 10
    assert pool.connection_kwargs["socket_timeout"] > layer.brpop_timeout
    assert pool.connection_kwargs["db"] == 15


def test_explicit_host_options_win():
    layer = RedisChannelLayer(hosts=[{"address": "redis://127.0.0.1:6379/15", "max_connections": 7}])
    assert layer.create_pool(0).max_connections == 7


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_socket_idle_longer_than_the_blocking_pop_still_hears_events(world, no_poll):
    admin = await connect_as(world.admin)
    await asyncio.sleep(6.5)
    event = await aemit(world.school.pk, None)
    assert [message["id"] for message in await receive(admin)] == [event.pk]
    await admin.disconnect()
