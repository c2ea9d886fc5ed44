"""The event log under concurrent writers, on PostgreSQL: no reader skips, repeats or reorders an event.

Writers in many schools emit events in transactions whose commits are delayed at random; some roll back,
and one holds its transaction open for seconds after emitting. Meanwhile several readers follow the log as
the socket processes do, each with a ``Hub`` of its own that offers every event to a listener hearing every
school. When the writers are done, every reader must have been offered exactly the committed events, each
once, in id order.

The same harness, with the readers blind to the writers still running (the ordering mechanism removed),
must catch a reader passing over an event that committed late: the proof that it can fail.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from django.db import connection, transaction

from chalkboard.realtime import hub as hub_module
from chalkboard.realtime.hub import Hub, Message
from chalkboard.realtime.log import Horizon, event_horizon_read, event_horizon_wait
from chalkboard.realtime.models import Event, EventType
from chalkboard.realtime.selectors import Audience
from chalkboard.realtime.services import event_emit
from tests import factories as f

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SCHOOLS = 8
WRITERS = 10
TRANSACTIONS_PER_WRITER = 12
READERS = 3
SLOW_WRITER_HOLDS_SECONDS = 2.0


class RolledBack(Exception):
    pass


@dataclass(eq=False)
class Listener:
    """A connection that hears every school and records what the hub offers it."""

    audience: Audience
    user_id: int = 1
    token_digest: str = "harness"
    offered: list[int] = field(default_factory=list)

    def offer(self, message: Message) -> None:
        self.offered.append(message.id)

    async def follow(self, audience: Audience | None) -> bool:
        return True

    async def fail(self) -> None:
        raise AssertionError("the hub failed to read the log")


def on_the_readers_thread(executors: dict[int, ThreadPoolExecutor]) -> Any:
    """The hub's ``database_call``: each reader's calls on a thread (and a connection) of its own."""

    def database_call(function: Any) -> Any:
        async def run(*args: Any, **kwargs: Any) -> Any:
            executor = executors[threading.get_ident()]
            return await asyncio.get_running_loop().run_in_executor(executor, partial(function, *args, **kwargs))

        return run

    return database_call


def write(school_ids: list[int], seed: int, errors: list[BaseException]) -> None:
    chance = random.Random(seed)
    try:
        for _ in range(TRANSACTIONS_PER_WRITER):
            time.sleep(chance.uniform(0, 0.004))
            try:
                with transaction.atomic():
                    for _ in range(chance.randint(1, 3)):
                        event_emit(
                            type=EventType.SESSION_UPDATED,
                            school_id=chance.choice(school_ids),
                            teacher_id=None,
                            data={"writer": seed},
                        )
                    time.sleep(chance.uniform(0, 0.02))  # the commit comes late, at random
                    if chance.random() < 0.1:
                        raise RolledBack
            except RolledBack:
                pass
    except BaseException as error:
        errors.append(error)
    finally:
        connection.close()


def write_slowly(school_id: int, emitted: threading.Event, errors: list[BaseException]) -> None:
    try:
        with transaction.atomic():
            event_emit(type=EventType.SESSION_UPDATED, school_id=school_id, teacher_id=None, data={"slow": True})
            emitted.set()
            time.sleep(SLOW_WRITER_HOLDS_SECONDS)
    except BaseException as error:
        errors.append(error)
    finally:
        connection.close()


def follow(
    listener: Listener,
    writing: threading.Event,
    executors: dict[int, ThreadPoolExecutor],
    errors: list[BaseException],
) -> None:
    executor = executors[threading.get_ident()] = ThreadPoolExecutor(max_workers=1)

    async def run() -> None:
        reader = Hub()
        reader.listeners.add(listener)
        reader.last_id = 0
        while writing.is_set():
            await reader.read()
            await asyncio.sleep(0.002)
        await reader.read()  # everything committed by now

    try:
        asyncio.run(run())
    except BaseException as error:
        errors.append(error)
    finally:
        executor.submit(lambda: connection.close()).result()  # the executor thread's own connection
        executor.shutdown()


def run_harness(school_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[list[int]]]:
    """Run the writers and the readers; the committed ids, and what each reader was offered."""
    errors: list[BaseException] = []
    executors: dict[int, ThreadPoolExecutor] = {}
    monkeypatch.setattr(hub_module, "database_call", on_the_readers_thread(executors))
    writing, slow_emitted = threading.Event(), threading.Event()
    writing.set()
    audience = Audience(user_id=1, staff_school_ids=frozenset(school_ids), teaching_school_ids=frozenset())
    listeners = [Listener(audience) for _ in range(READERS)]
    readers = [threading.Thread(target=follow, args=(listener, writing, executors, errors)) for listener in listeners]
    for reader in readers:
        reader.start()
    slow = threading.Thread(target=write_slowly, args=(school_ids[0], slow_emitted, errors))
    slow.start()
    assert slow_emitted.wait(5)
    writers = [threading.Thread(target=write, args=(school_ids, seed, errors)) for seed in range(WRITERS)]
    for writer in writers:
        writer.start()
    for thread in [slow, *writers]:
        thread.join(60)
    writing.clear()
    for reader in readers:
        reader.join(60)

    assert errors == []
    committed = list(Event.objects.order_by("id").values_list("id", flat=True))
    return committed, [listener.offered for listener in listeners]


@pytest.fixture
def school_ids(db) -> list[int]:
    return [f.SchoolFactory().pk for _ in range(SCHOOLS)]


def test_no_reader_skips_repeats_or_reorders_an_event(school_ids, monkeypatch):
    committed, offered = run_harness(school_ids, monkeypatch)

    assert len(committed) > WRITERS * TRANSACTIONS_PER_WRITER / 2  # the writers did write
    for seen in offered:
        assert seen == committed


def test_readers_blind_to_running_writers_pass_over_late_commits(school_ids, monkeypatch):
    """The ordering mechanism removed: readers read up to the highest id handed out at once."""

    def blind(*, after_id: int = 0) -> Horizon:
        return Horizon(event_horizon_read(after_id=after_id).latest, frozenset())

    monkeypatch.setattr(hub_module, "event_horizon_read", blind)

    committed, offered = run_harness(school_ids, monkeypatch)

    slow_id = Event.objects.filter(data__slow=True).values_list("id", flat=True).get()
    for seen in offered:
        assert seen != committed
        assert slow_id not in seen  # it committed seconds after the readers passed it


def test_a_synchronous_reader_waits_for_the_writers_that_can_still_commit_below_its_horizon(school_ids):
    """``event_horizon_wait`` (the webhook planner's reader): while a writer that drew an id holds its
    transaction open, the horizon waits for it; once it commits, its event is below the horizon returned."""
    emitted, errors = threading.Event(), []
    writer = threading.Thread(target=write_slowly, args=(school_ids[0], emitted, errors))
    writer.start()
    try:
        assert emitted.wait(10)
        started = time.monotonic()
        horizon = event_horizon_wait(first_wait=0.01, max_wait=0.05)
        waited = time.monotonic() - started
    finally:
        writer.join(timeout=30)
    assert not errors
    slow_id = Event.objects.filter(data__slow=True).values_list("id", flat=True).get()
    assert horizon >= slow_id
    assert waited >= SLOW_WRITER_HOLDS_SECONDS / 2  # it waited for the writer, not for nothing
