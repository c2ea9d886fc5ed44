from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re

import pytest
from django.db import transaction
from django.test import override_settings

from chalkboard.realtime import publishing
from chalkboard.realtime.models import Event, EventType
from chalkboard.realtime.publishing import event_groups, event_publish, staff_group, teacher_group
from chalkboard.realtime.services import event_emit


def test_an_event_concerns_its_school_staff_and_its_teacher_there():
    assert event_groups(school_id=3, teacher_id=7) == ["school.3.staff", "teacher.7.school.3"]
    assert event_groups(school_id=3, teacher_id=None) == ["school.3.staff"]
    assert staff_group(3) == "school.3.staff"
    assert teacher_group(7, 3) == "teacher.7.school.3"


def test_without_a_channel_layer_publishing_does_nothing(monkeypatch):
    def must_not_send(*args, **kwargs):
        raise AssertionError("nothing to send through")

    monkeypatch.setattr(publishing, "_send_all", must_not_send)
    with override_settings(CHANNEL_LAYERS={}):
        event_publish(event_id=1, school_id=1, teacher_id=None)


def test_a_channel_layer_that_fails_is_logged_and_never_raised(monkeypatch, caplog):
    class Down(ConnectionError):
        pass

    async def down(self, group, message):
        raise Down("redis is down")

    monkeypatch.setattr(type(publishing.get_channel_layer()), "group_send", down)
    with caplog.at_level(logging.WARNING, logger="chalkboard.realtime"):
        event_publish(event_id=41, school_id=1, teacher_id=2)

    assert "could not publish event 41" in caplog.text


def test_a_channel_layer_that_hangs_gives_up_after_the_timeout(monkeypatch, caplog):
    async def hang(self, group, message):
        await asyncio.sleep(30)

    monkeypatch.setattr(type(publishing.get_channel_layer()), "group_send", hang)
    monkeypatch.setattr(publishing, "PUBLISH_TIMEOUT_SECONDS", 0.05)
    with caplog.at_level(logging.WARNING, logger="chalkboard.realtime"):
        event_publish(event_id=42, school_id=1, teacher_id=None)

    assert "could not publish event 42" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_publish_failure_does_not_break_the_writer(world, monkeypatch):
    async def down(self, group, message):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(type(publishing.get_channel_layer()), "group_send", down)
    with transaction.atomic():
        event = event_emit(
            type=EventType.SESSION_COMPLETED, school_id=world.school.pk, teacher_id=world.teacher.pk, data={}
        )

    assert Event.objects.get().pk == event.pk


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
def test_nudges_from_sync_code_reuse_one_loop_and_its_connections():
    event_publish(event_id=1, school_id=1, teacher_id=2)
    loop, before = publishing._sender._loop, redis_clients()

    for event_id in range(2, 22):
        event_publish(event_id=event_id, school_id=1, teacher_id=2)

    assert publishing._sender._loop is loop
    assert loop is not None
    assert loop.is_running()
    assert redis_clients() == before


@pytest.mark.redis
def test_a_forked_child_sends_from_a_loop_of_its_own(monkeypatch):
    event_publish(event_id=1, school_id=1, teacher_id=None)
    parent = publishing._sender._loop

    monkeypatch.setattr(publishing.os, "getpid", lambda: -1)
    event_publish(event_id=2, school_id=1, teacher_id=None)

    assert publishing._sender._loop is not parent


@pytest.mark.redis
def test_the_sender_follows_a_channel_layer_made_anew():
    event_publish(event_id=1, school_id=1, teacher_id=None)
    first = publishing._sender._layer

    publishing.channel_layers.backends.clear()
    event_publish(event_id=2, school_id=1, teacher_id=None)

    assert publishing._sender._layer is not first
    assert publishing._sender._source is publishing.get_channel_layer()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_nudge_from_sync_code_reaches_a_listener_on_another_loop():
    """The sender's own loop and layer deliver to a consumer's channel read on a different loop."""
    from asgiref.sync import async_to_sync

    async def listen_then_publish() -> dict[str, object]:
        layer = publishing.get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(staff_group(9), channel)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: event_publish(event_id=77, school_id=9, teacher_id=None)
        )
        return await asyncio.wait_for(layer.receive(channel), timeout=3)

    assert async_to_sync(listen_then_publish)() == {"type": "events.available", "id": 77}
