"""The process's hub: one read of the log for every connection, one re-check of every token and role."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from knox.models import AuthToken

from chalkboard.realtime import consumers, hub
from chalkboard.realtime.consumers import CLOSE_INTERNAL_ERROR
from chalkboard.realtime.hub import Message
from chalkboard.realtime.models import Event
from chalkboard.realtime.selectors import Audience, audiences_of_tokens, events_visible
from chalkboard.schools.models import Role
from tests import factories as f
from tests.realtime.conftest import TIMEOUT, aemit, closed_with, connect_as, emit, receive, run_async

pytestmark = pytest.mark.django_db(transaction=True)


def ids(messages) -> list[int]:
    return [message["id"] for message in messages]


# --- Who hears an event: the same rule in Python as in the query -------------------------------------


def test_hears_is_the_visibility_query_in_python(world, other_world):
    school, other = world.school.pk, other_world.school.pk
    teacher, other_teacher = world.teacher.pk, world.other_teacher.pk
    for school_id, teacher_id in [(school, None), (school, teacher), (school, other_teacher), (other, teacher)]:
        emit(school_id, teacher_id)
    audiences = [
        Audience(user_id=teacher, staff_school_ids=frozenset(), teaching_school_ids=frozenset({school})),
        Audience(user_id=teacher, staff_school_ids=frozenset({other}), teaching_school_ids=frozenset({school})),
        Audience(user_id=teacher, staff_school_ids=frozenset(), teaching_school_ids=frozenset({other})),
        Audience(user_id=world.admin.pk, staff_school_ids=frozenset({school}), teaching_school_ids=frozenset()),
        Audience(user_id=world.admin.pk, staff_school_ids=frozenset(), teaching_school_ids=frozenset()),
    ]
    events = list(Event.objects.order_by("id"))
    for audience in audiences:
        by_query = set(events_visible(audience=audience).values_list("id", flat=True))
        by_python = {e.pk for e in events if audience.hears(school_id=e.school_id, teacher_id=e.teacher_id)}
        assert by_python == by_query, audience


# --- Every connection's token and roles in one call ---------------------------------------------------


def _token(user, **fields):
    instance, _ = AuthToken.objects.create(user=user)
    if fields:
        AuthToken.objects.filter(pk=instance.pk).update(**fields)
    return instance.digest


def test_audiences_of_tokens_leaves_out_every_token_no_longer_valid(world, other_world):
    teacher = world.teacher.user
    f.member(school=other_world.school, role=Role.ADMIN, user=teacher)
    valid = (teacher.pk, _token(teacher))
    revoked = (world.admin.pk, _token(world.admin))
    AuthToken.objects.filter(digest=revoked[1]).delete()
    expired = (world.owner.pk, _token(world.owner, expiry=timezone.now() - timedelta(seconds=1)))
    inactive_user = f.member(school=world.school, role=Role.ADMIN)
    inactive = (inactive_user.pk, _token(inactive_user))
    inactive_user.is_active = False
    inactive_user.save()
    someone_elses = (world.admin.pk, valid[1])

    audiences = audiences_of_tokens([valid, revoked, expired, inactive, someone_elses])

    assert audiences == {
        valid: Audience(
            user_id=teacher.pk,
            staff_school_ids=frozenset({other_world.school.pk}),
            teaching_school_ids=frozenset({world.school.pk}),
        )
    }


def test_audiences_of_tokens_costs_two_queries_however_many_connections(world, django_assert_num_queries):
    users = [world.owner, world.admin, world.teacher.user, world.other_teacher.user, world.student.user]
    tokens = [(user.pk, _token(user)) for user in users]
    with django_assert_num_queries(2):
        one = audiences_of_tokens(tokens[:1])
    with django_assert_num_queries(2):
        every = audiences_of_tokens(tokens)
    assert len(one) == 1
    # A student's token is valid; the audience then hears nothing, and the connection closes with 4403.
    assert len(every) == 5
    assert every[tokens[4]].hears_nothing


# --- One read of the log for every connection --------------------------------------------------------


async def _hub_has_read(the_hub, event_id):
    while (the_hub.last_id or 0) < event_id:
        await asyncio.sleep(0.01)


@run_async
async def test_each_event_is_read_from_the_log_once_for_every_connection(world, no_poll, monkeypatch):
    listeners = [world.owner, world.admin, world.teacher.user, world.teacher.user, world.other_teacher.user]
    sockets = [await connect_as(user) for user in listeners]
    rows_read = []
    read_all = hub.event_messages_of_every_school_after

    def counting(**kwargs):
        rows = read_all(**kwargs)
        rows_read.extend(row["id"] for row in rows)
        return rows

    monkeypatch.setattr(hub, "event_messages_of_every_school_after", counting)
    event = await aemit(world.school.pk, world.teacher.pk)

    owner, admin, teacher, teacher_again, other_teacher = sockets
    for communicator in (owner, admin, teacher, teacher_again):
        assert ids(await receive(communicator)) == [event.pk]
    assert await other_teacher.receive_nothing(0.2)
    await asyncio.wait_for(_hub_has_read(hub.hub(), event.pk), timeout=3)
    assert rows_read == [event.pk]
    for communicator in sockets:
        await communicator.disconnect()


@run_async
async def test_the_hub_stops_with_its_last_connection_and_starts_again_with_the_next(world, no_poll):
    the_hub = hub.hub()
    first = await connect_as(world.admin)
    assert the_hub.task is not None
    await first.disconnect()
    assert (the_hub.task, the_hub.last_id, the_hub.listeners) == (None, None, set())

    missed = await aemit(world.school.pk, None)
    second = await connect_as(world.admin)
    assert the_hub.last_id == missed.pk
    event = await aemit(world.school.pk, None)
    assert ids(await receive(second)) == [event.pk]
    await second.disconnect()


# --- A client that stops reading ---------------------------------------------------------------------


def test_a_full_outbox_is_forgotten_for_a_read_of_the_log():
    consumer = consumers.DashboardConsumer()
    consumer.outbox = asyncio.Queue()
    messages = [Message(id=n, school_id=1, teacher_id=None, text="{}") for n in range(1, 5)]
    for message in messages[:3]:
        consumer.offer(message)
    assert consumer.outbox.qsize() == 3

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(consumers, "OUTBOX_LIMIT", 3)
        consumer.offer(messages[3])

    assert [consumer.outbox.get_nowait() for _ in range(consumer.outbox.qsize())] == [None, messages[3]]


@run_async
async def test_a_client_far_behind_gets_everything_in_order_from_the_log(world, no_poll, monkeypatch):
    monkeypatch.setattr(consumers, "OUTBOX_LIMIT", 2)
    admin = await connect_as(world.admin)
    gate = asyncio.Event()
    original = consumers.DashboardConsumer.send

    async def slow(self, text_data=None, bytes_data=None, close=False):
        if text_data is not None and '"id"' in text_data:
            await gate.wait()
        await original(self, text_data, bytes_data, close)

    monkeypatch.setattr(consumers.DashboardConsumer, "send", slow)
    events = [await aemit(world.school.pk, None) for _ in range(6)]
    await asyncio.wait_for(_hub_has_read(hub.hub(), events[-1].pk), timeout=3)
    gate.set()

    assert ids(await receive(admin, 6)) == [event.pk for event in events]
    assert await admin.receive_nothing(0.2)
    await admin.disconnect()


# --- Re-checks ---------------------------------------------------------------------------------------


@run_async
async def test_a_connection_that_cannot_follow_its_roles_is_closed_alone(
    world, other_world, fast_poll, monkeypatch, caplog
):
    teacher = await connect_as(world.teacher.user)
    admin = await connect_as(world.admin)
    follow = consumers.DashboardConsumer.follow

    async def broken_for_the_teacher(self, audience):
        if self.user_id == world.teacher.pk and audience != self.audience:
            raise RuntimeError("a bug in following")
        return await follow(self, audience)

    monkeypatch.setattr(consumers.DashboardConsumer, "follow", broken_for_the_teacher)

    def gains_a_school() -> None:
        f.member(school=other_world.school, role=Role.ADMIN, user=world.teacher.user)

    await database_sync_to_async(gains_a_school)()
    assert await closed_with(teacher) == CLOSE_INTERNAL_ERROR
    assert "could not follow a dashboard's new roles" in caplog.text
    await admin.send_json_to({"type": "ping"})
    assert await receive(admin) == [{"type": "pong"}]
    await admin.disconnect()


@run_async
async def test_a_recheck_in_progress_does_not_hold_up_events(world, no_poll, monkeypatch, settings):
    settings.REALTIME_DB_THREAD_SENSITIVE = False  # as in production: each database call on its own thread
    # Re-checks come every 0.1 s; the log is read only when the write announces its event, after its commit.
    # A poll could read while the write is in flight, on another thread: the tests' in-memory SQLite shares
    # one cache between its connections and refuses that read ("database table is locked"), which the
    # embedded default's file in WAL mode never does.
    monkeypatch.setattr(hub, "RECHECK_SECONDS", 0.1)
    started, release = threading.Event(), threading.Event()
    original = hub.audiences_of_tokens

    def slow_recheck(tokens):
        started.set()
        release.wait(30)
        return original(tokens)

    async def emit_and_receive() -> tuple[Event, list[dict]]:
        event = await aemit(world.school.pk, None)
        return event, await receive(admin)

    monkeypatch.setattr(hub, "audiences_of_tokens", slow_recheck)
    admin = await connect_as(world.admin)
    try:
        assert await asyncio.to_thread(started.wait, 3)
        # Written and delivered while the re-check still waits: neither queues behind it.
        event, messages = await asyncio.wait_for(emit_and_receive(), TIMEOUT)
        assert ids(messages) == [event.pk]
    finally:
        release.set()
    await admin.disconnect()


@run_async
async def test_a_failing_recheck_closes_the_sockets_so_the_clients_resume(world, fast_poll, monkeypatch):
    admin = await connect_as(world.admin)

    def broken(tokens):
        raise RuntimeError("database went away")

    monkeypatch.setattr(hub, "audiences_of_tokens", broken)
    assert await closed_with(admin) == CLOSE_INTERNAL_ERROR


@run_async
async def test_roles_gained_hear_what_the_hub_passed_over_before_the_recheck(world, other_world, no_poll):
    teacher = await connect_as(world.teacher.user)
    the_hub = hub.hub()

    def promote() -> None:
        f.member(school=other_world.school, role=Role.ADMIN, user=world.teacher.user)

    await database_sync_to_async(promote)()
    event = await aemit(other_world.school.pk, other_world.teacher.pk)
    the_hub.nudge(event.pk)
    await asyncio.wait_for(_hub_has_read(the_hub, event.pk), timeout=3)
    # Read by the hub, and not offered: the connection still follows the roles it had.
    assert await teacher.receive_nothing(0.1)

    await the_hub.recheck()
    assert ids(await receive(teacher)) == [event.pk]
    await teacher.disconnect()


# --- Announcements from writers in this process --------------------------------------------------------


def test_a_writer_on_another_thread_nudges_the_hub_on_the_hubs_own_loop():
    async def scenario() -> bool:
        the_hub = hub.Hub()
        the_hub.last_id = 5
        the_hub.nudge_from_any_thread(6)  # not running yet: no loop to hand it to
        await asyncio.sleep(0)
        assert not the_hub.wake.is_set()
        the_hub.loop = asyncio.get_running_loop()
        await asyncio.to_thread(the_hub.nudge_from_any_thread, 6)
        await asyncio.sleep(0)  # the loop runs the nudge it was handed
        return the_hub.wake.is_set()

    assert asyncio.run(scenario())
