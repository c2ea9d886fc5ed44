"""What a dashboard socket hears: whose events, in which shape, only committed, in order, exactly once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from chalkboard.progress.services import assessment_create
from chalkboard.realtime import consumers, hub, selectors, services
from chalkboard.realtime.consumers import CLOSE_BAD_REQUEST, CLOSE_INTERNAL_ERROR
from chalkboard.realtime.models import Event, EventType
from chalkboard.realtime.services import event_emit
from chalkboard.schools.access import Viewer
from tests import factories as f
from tests.realtime.conftest import aemit, closed_with, connect_as, emit, receive, run_async

pytestmark = pytest.mark.django_db(transaction=True)


def ids(messages) -> list[int]:
    return [message["id"] for message in messages]


# --- Who hears what ----------------------------------------------------------------------------------


@run_async
async def test_a_teacher_hears_their_own_events_and_never_another_teachers(world, no_poll):
    teacher = await connect_as(world.teacher.user)
    await aemit(world.school.pk, world.other_teacher.pk)
    await aemit(world.school.pk, None)
    own = await aemit(world.school.pk, world.teacher.pk)

    # Had the other events reached this teacher, they would have come first (ids are in order).
    assert ids(await receive(teacher)) == [own.pk]
    assert await teacher.receive_nothing(0.2)
    await teacher.disconnect()


def assess(world, teacher, student) -> None:
    assessment_create(
        viewer=Viewer.for_user(teacher.user),
        student_id=student.pk,
        subject_id=world.session.subject_id,
        kind="quiz",
        score=Decimal("6"),
        max_score=Decimal("10"),
    )


@run_async
async def test_every_teacher_of_a_student_hears_their_progress_change(world, no_poll):
    """An assessment is the assessing teacher's event; the progress it changes concerns every teacher of the
    student, and only them."""
    await database_sync_to_async(f.session_for)(world.other_teacher, world.student)
    outsider = await database_sync_to_async(f.teacher_in)(world.school)
    teacher, other, stranger = [
        await connect_as(user) for user in (world.teacher.user, world.other_teacher.user, outsider.user)
    ]

    await database_sync_to_async(assess)(world, world.other_teacher, world.student)

    heard = await receive(teacher)
    assert [(m["type"], m["teacher_id"], m["data"]["student_id"]) for m in heard] == [
        ("progress.updated", world.teacher.pk, world.student.pk)
    ]
    assert heard[0]["data"]["percentage"] == "60.00"
    assert [m["type"] for m in await receive(other, 2)] == ["assessment.created", "progress.updated"]
    assert await teacher.receive_nothing(0.2)
    assert await stranger.receive_nothing(0.2)
    for communicator in (teacher, other, stranger):
        await communicator.disconnect()


@pytest.mark.parametrize("role", ["owner", "admin"])
@run_async
async def test_staff_hear_every_event_of_their_school(world, role, no_poll):
    staff = await connect_as(world.user(role))
    events = [
        await aemit(world.school.pk, world.teacher.pk),
        await aemit(world.school.pk, world.other_teacher.pk),
        await aemit(world.school.pk, None),
    ]
    assert ids(await receive(staff, 3)) == [event.pk for event in events]
    await staff.disconnect()


@run_async
async def test_another_school_hears_nothing(world, other_world, no_poll):
    listeners = [await connect_as(user) for user in (other_world.owner, other_world.admin, other_world.teacher.user)]
    await aemit(world.school.pk, world.teacher.pk)
    await aemit(world.school.pk, None)
    # Ids are global: a marker event of the other school shows nothing came before it.
    marker = await aemit(other_world.school.pk, other_world.teacher.pk)
    for listener in listeners:
        assert ids(await receive(listener)) == [marker.pk]
        await listener.disconnect()


@run_async
async def test_a_teacher_in_two_schools_hears_their_events_in_both(world, other_world, no_poll):
    await database_sync_to_async(f.teacher_in)(other_world.school, user=world.teacher.user)
    teacher = await connect_as(world.teacher.user)
    here = await aemit(world.school.pk, world.teacher.pk)
    there = await aemit(other_world.school.pk, world.teacher.pk)
    await aemit(other_world.school.pk, other_world.teacher.pk)
    last = await aemit(world.school.pk, world.teacher.pk)
    assert ids(await receive(teacher, 3)) == [here.pk, there.pk, last.pk]
    await teacher.disconnect()


# --- The envelope --------------------------------------------------------------------------------------

DATA = {
    EventType.SESSION_CREATED: {"session_id": 1, "starts_at": "2026-03-02T10:00:00Z"},
    EventType.SESSION_UPDATED: {"session_id": 1, "changed": ["starts_at"]},
    EventType.SESSION_CANCELLED: {"session_id": 1, "reason": "ill"},
    EventType.SESSION_COMPLETED: {"session_id": 1, "earning_id": 9},
    EventType.ASSESSMENT_CREATED: {"assessment_id": 4, "student_id": 2, "percentage": "85.50"},
    EventType.PROGRESS_UPDATED: {"student_id": 2, "subject_id": 3, "percentage": "71.00"},
    EventType.EARNINGS_UPDATED: {"earning_id": 9, "amount": "45.00", "currency": "EUR"},
}


@run_async
async def test_every_event_type_arrives_in_the_contract_envelope(world, no_poll):
    teacher = await connect_as(world.teacher.user)
    emitted = [await aemit(world.school.pk, world.teacher.pk, event_type, data) for event_type, data in DATA.items()]

    messages = await receive(teacher, len(DATA))
    for message, event in zip(messages, emitted, strict=True):
        assert message == {
            "id": event.pk,
            "type": event.type,
            "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
            "school_id": world.school.pk,
            "teacher_id": world.teacher.pk,
            "data": DATA[event.type],
        }
    assert [message["type"] for message in messages] == [str(event_type) for event_type in DATA]
    await teacher.disconnect()


# --- Only what committed -----------------------------------------------------------------------------


@run_async
async def test_a_rolled_back_write_sends_nothing(world, fast_poll):
    admin = await connect_as(world.admin)

    def rolled_back() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            event_emit(type=EventType.SESSION_CANCELLED, school_id=world.school.pk, teacher_id=None, data={})
            raise RuntimeError

    await database_sync_to_async(rolled_back)()
    assert await admin.receive_nothing(0.3)
    committed = await aemit(world.school.pk, None)
    assert ids(await receive(admin)) == [committed.pk]
    await admin.disconnect()


@pytest.mark.postgres  # the in-memory SQLite of the tests locks readers out while a write is open
@run_async
async def test_nothing_is_sent_before_the_write_commits(world, fast_poll):
    admin = await connect_as(world.admin)
    emitted = asyncio.Event()
    may_commit = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_write() -> Event:
        with transaction.atomic():
            event = event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={})
            loop.call_soon_threadsafe(emitted.set)
            asyncio.run_coroutine_threadsafe(may_commit.wait(), loop).result(5)
        return event

    write = asyncio.ensure_future(database_sync_to_async(slow_write, thread_sensitive=False)())
    await asyncio.wait_for(emitted.wait(), 5)
    assert await admin.receive_nothing(0.3)
    may_commit.set()
    event = await write
    assert ids(await receive(admin)) == [event.pk]
    await admin.disconnect()


# --- Resume --------------------------------------------------------------------------------------------


@run_async
async def test_resuming_sends_what_was_missed_then_live_events_without_gaps_or_duplicates(world, no_poll):
    teacher = await connect_as(world.teacher.user)
    first = await aemit(world.school.pk, world.teacher.pk)
    seen = await receive(teacher)
    assert ids(seen) == [first.pk]
    await teacher.disconnect()

    missed = []
    for i in range(4):
        missed.append(await aemit(world.school.pk, world.teacher.pk, data={"n": i}))
        await aemit(world.school.pk, world.other_teacher.pk)

    teacher = await connect_as(world.teacher.user, query=f"since={seen[-1]['id']}")
    assert ids(await receive(teacher, 4)) == [event.pk for event in missed]
    live = await aemit(world.school.pk, world.teacher.pk)
    assert ids(await receive(teacher)) == [live.pk]
    assert await teacher.receive_nothing(0.2)
    await teacher.disconnect()


@run_async
async def test_resuming_from_the_middle_sends_only_what_came_after(world, no_poll):
    events = [await aemit(world.school.pk, None) for _ in range(5)]
    admin = await connect_as(world.admin, query=f"since={events[1].pk}")
    assert ids(await receive(admin, 3)) == [event.pk for event in events[2:]]
    assert await admin.receive_nothing(0.2)
    await admin.disconnect()


@run_async
async def test_a_long_backlog_is_sent_in_batches_in_order(world, no_poll, monkeypatch):
    monkeypatch.setattr(consumers, "BATCH_SIZE", 2)
    start = await aemit(world.school.pk, None)
    events = [await aemit(world.school.pk, None) for _ in range(5)]
    admin = await connect_as(world.admin, query=f"since={start.pk}")
    assert ids(await receive(admin, 5)) == [event.pk for event in events]
    live = [await aemit(world.school.pk, None) for _ in range(3)]
    assert ids(await receive(admin, 3)) == [event.pk for event in live]
    await admin.disconnect()


@run_async
async def test_without_since_only_new_events_are_sent(world, no_poll):
    await aemit(world.school.pk, None)
    admin = await connect_as(world.admin)
    assert await admin.receive_nothing(0.2)
    new = await aemit(world.school.pk, None)
    assert ids(await receive(admin)) == [new.pk]
    await admin.disconnect()


@run_async
async def test_since_older_than_the_log_asks_for_a_resync_then_goes_live(world, no_poll):
    old = [await aemit(world.school.pk, None) for _ in range(3)]
    await database_sync_to_async(Event.objects.filter(pk__in=[old[0].pk, old[1].pk]).delete)()
    admin = await connect_as(world.admin, query=f"since={old[0].pk - 1}")
    assert await receive(admin) == [{"type": "resync", "reason": "since_too_old", "id": old[2].pk}]
    live = await aemit(world.school.pk, None)
    assert ids(await receive(admin)) == [live.pk]
    await admin.disconnect()


@run_async
async def test_since_never_issued_asks_for_a_resync(world, no_poll):
    newest = await aemit(world.school.pk, None)
    admin = await connect_as(world.admin, query=f"since={newest.pk + 100}")
    assert await receive(admin) == [{"type": "resync", "reason": "since_unknown", "id": newest.pk}]
    await admin.disconnect()


@run_async
async def test_a_backlog_too_large_asks_for_a_resync(world, no_poll, monkeypatch):
    monkeypatch.setattr(selectors, "BACKLOG_LIMIT", 3)
    start = await aemit(world.school.pk, None)
    events = [await aemit(world.school.pk, None) for _ in range(4)]
    admin = await connect_as(world.admin, query=f"since={start.pk}")
    assert await receive(admin) == [{"type": "resync", "reason": "backlog_too_large", "id": events[-1].pk}]
    assert await admin.receive_nothing(0.2)
    await admin.disconnect()


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", "", "99999999999999999999999", "١٢"])
@run_async
async def test_an_invalid_since_is_an_error(world, since):
    admin = await connect_as(world.admin, query=f"since={since}")
    assert await receive(admin) == [{"type": "error", "message": consumers.SINCE_INVALID}]
    assert await closed_with(admin) == CLOSE_BAD_REQUEST


# --- Lost nudges ---------------------------------------------------------------------------------------


@run_async
async def test_an_event_whose_nudge_is_lost_arrives_at_the_next_poll(world, fast_poll, monkeypatch):
    admin = await connect_as(world.admin)
    monkeypatch.setattr(services, "events_announce", lambda *, event_id, scopes: None)  # lost
    event = await aemit(world.school.pk, world.teacher.pk)
    assert ids(await receive(admin)) == [event.pk]
    await admin.disconnect()


async def _read_up_to(the_hub, event_id):
    while (the_hub.last_id or 0) < event_id:
        await asyncio.sleep(0.01)


@run_async
async def test_a_stale_nudge_triggers_no_read(world, no_poll, monkeypatch):
    admin = await connect_as(world.admin)
    event = await aemit(world.school.pk, None)
    assert ids(await receive(admin)) == [event.pk]
    # The connection may have sent the event from its replay: wait for the hub's own read of it.
    the_hub = hub.hub()
    await asyncio.wait_for(_read_up_to(the_hub, event.pk), timeout=3)

    reads = []
    original = hub.event_messages_of_every_school_after

    def counting(**kwargs):
        reads.append(kwargs["after_id"])
        return original(**kwargs)

    monkeypatch.setattr(hub, "event_messages_of_every_school_after", counting)
    the_hub.nudge(event.pk)
    assert await admin.receive_nothing(0.2)
    assert reads == []
    await admin.disconnect()


@run_async
async def test_a_failing_read_closes_the_socket_so_the_client_resumes(world, no_poll, monkeypatch):
    admin = await connect_as(world.admin)

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(hub, "event_messages_of_every_school_after", broken)
    await aemit(world.school.pk, None)
    assert await closed_with(admin) == CLOSE_INTERNAL_ERROR


# --- Messages from the client --------------------------------------------------------------------------


@run_async
async def test_ping_is_answered_pong(world):
    admin = await connect_as(world.admin)
    for _ in range(2):
        await admin.send_json_to({"type": "ping"})
        assert await receive(admin) == [{"type": "pong"}]
    await admin.disconnect()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"text_data": "not json"}, consumers.MESSAGE_NOT_JSON),
        ({"text_data": "[1, 2]"}, consumers.MESSAGE_NOT_JSON),
        ({"text_data": '"ping"'}, consumers.MESSAGE_NOT_JSON),
        ({"bytes_data": b"\x00\x01"}, consumers.MESSAGE_NOT_JSON),
        ({"text_data": '{"type": "subscribe", "school_id": 2}'}, consumers.MESSAGE_UNKNOWN),
        ({"text_data": '{"type": ["ping"]}'}, consumers.MESSAGE_UNKNOWN),
        ({"text_data": "{}"}, consumers.MESSAGE_UNKNOWN),
    ],
)
@run_async
async def test_anything_else_is_answered_with_an_error_and_the_socket_lives_on(world, no_poll, frame, message):
    admin = await connect_as(world.admin)
    await admin.send_to(**frame)
    assert await receive(admin) == [{"type": "error", "message": message}]
    await admin.send_json_to({"type": "ping"})
    assert await receive(admin) == [{"type": "pong"}]
    event = await aemit(world.school.pk, None)
    assert ids(await receive(admin)) == [event.pk]
    await admin.disconnect()


# --- Many listeners ------------------------------------------------------------------------------------


@run_async
async def test_a_client_that_does_not_read_does_not_hold_up_the_others(world, no_poll):
    sleeper = await connect_as(world.admin)
    reader = await connect_as(world.owner)
    events = [await aemit(world.school.pk, None) for _ in range(3)]
    assert ids(await receive(reader, 3)) == [event.pk for event in events]
    # The one that did not read still gets everything, in order, when it does.
    assert ids(await receive(sleeper, 3)) == [event.pk for event in events]
    for communicator in (sleeper, reader):
        await communicator.disconnect()


def test_emit_helper_commits(world):
    event = emit(world.school.pk, None)
    assert Event.objects.filter(pk=event.pk).exists()


@run_async
async def test_a_client_gone_while_being_sent_to_ends_the_relay_quietly(world, no_poll, monkeypatch, caplog):
    admin = await connect_as(world.admin)
    original = consumers.DashboardConsumer.send

    async def gone(self, text_data=None, bytes_data=None, close=False):
        if text_data is not None and '"id"' in text_data:
            raise ConnectionResetError("the client went away")
        await original(self, text_data, bytes_data, close)

    monkeypatch.setattr(consumers.DashboardConsumer, "send", gone)
    await aemit(world.school.pk, None)
    assert await admin.receive_nothing(0.3)
    await admin.send_json_to({"type": "ping"})
    assert await receive(admin) == [{"type": "pong"}]
    await admin.disconnect()
    assert "relay failed" not in caplog.text
