"""The hub's reads of the log, with the database replaced by a list: batches, late joiners, leavers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chalkboard.realtime import hub
from chalkboard.realtime.hub import Hub, Message
from chalkboard.realtime.selectors import Audience

SCHOOL = 1


class FakeLog:
    """The event log as the hub reads it: the newest id, and the events after an id, a batch at a time."""

    def __init__(self, count: int) -> None:
        self.rows = [
            {"id": n, "school_id": SCHOOL, "teacher_id": None, "type": "session.updated"} for n in range(1, count + 1)
        ]
        self.latest_reads = 0
        self.batch_reads: list[int] = []
        self.while_reading: Any = None

    def call(self, function: Any) -> Any:
        async def run(*args: Any, **kwargs: Any) -> Any:
            if function.__name__ == "event_latest_id":
                self.latest_reads += 1
                return 0
            self.batch_reads.append(kwargs["after_id"])
            if self.while_reading:
                self.while_reading()
            return [row for row in self.rows if row["id"] > kwargs["after_id"]][: kwargs["limit"]]

        return run


class Socket:
    def __init__(self) -> None:
        self.user_id = 7
        self.token_digest = "digest"
        self.audience = Audience(user_id=7, staff_school_ids=frozenset({SCHOOL}), teaching_school_ids=frozenset())
        self.offered: list[Message] = []

    def offer(self, message: Message) -> None:
        self.offered.append(message)

    async def follow(self, audience: Audience | None) -> bool:
        return True

    async def fail(self) -> None:
        return None


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> FakeLog:
    fake = FakeLog(count=5)
    monkeypatch.setattr(hub, "database_call", fake.call)
    monkeypatch.setattr(hub, "BATCH_SIZE", 2)
    monkeypatch.setattr(hub, "LOG_POLL_SECONDS", 3600.0)
    monkeypatch.setattr(hub, "RECHECK_SECONDS", 3600.0)
    return fake


def test_a_second_socket_joins_the_running_hub_without_reading_the_newest_id_again(log):
    async def scenario() -> None:
        the_hub, first, second = Hub(), Socket(), Socket()
        await the_hub.join(first)
        await the_hub.join(second)
        assert log.latest_reads == 1
        assert the_hub.listeners == {first, second}
        the_hub.leave(first)
        the_hub.leave(second)
        assert the_hub.task is None

    asyncio.run(scenario())


def test_a_backlog_longer_than_a_batch_is_read_batch_after_batch_in_order(log):
    async def scenario() -> list[int]:
        the_hub, socket = Hub(), Socket()
        the_hub.listeners.add(socket)
        the_hub.last_id = 0
        await the_hub.read()
        return [message.id for message in socket.offered]

    assert asyncio.run(scenario()) == [1, 2, 3, 4, 5]
    assert log.batch_reads == [0, 2, 4]


def test_a_read_stops_after_the_batch_during_which_the_last_socket_left(log):
    the_hub, socket = Hub(), Socket()
    # The socket closes while the hub waits for the first batch (another task runs during the query).
    log.while_reading = lambda: the_hub.leave(socket)

    async def scenario() -> None:
        the_hub.listeners.add(socket)
        the_hub.last_id = 0
        await the_hub.read()

    asyncio.run(scenario())

    assert socket.offered == []
    assert log.batch_reads == [0]
    assert the_hub.last_id == 2
