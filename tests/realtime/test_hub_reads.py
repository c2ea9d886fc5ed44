"""The hub's reads of the log, with the database replaced by a list: batches, late joiners, leavers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chalkboard.realtime import hub
from chalkboard.realtime.hub import Hub, Message
from chalkboard.realtime.log import Horizon
from chalkboard.realtime.selectors import Audience

SCHOOL = 1


class FakeLog:
    """The event log as the hub reads it: its horizon (the highest id handed out, and the writers that may
    still commit ids up to it), and the events after an id up to a horizon, a batch at a time."""

    def __init__(self, count: int) -> None:
        self.rows = [
            {"id": n, "school_id": SCHOOL, "teacher_id": None, "type": "session.updated"} for n in range(1, count + 1)
        ]
        self.handed_out = count
        self.horizon_reads = 0
        self.writers: dict[str, int] = {}  # a writer, and how many more checks find it running
        self.writer_checks = 0
        self.batch_reads: list[tuple[int, int]] = []
        self.while_reading: Any = None

    def call(self, function: Any) -> Any:
        async def run(*args: Any, **kwargs: Any) -> Any:
            if function.__name__ == "event_horizon_read":
                self.horizon_reads += 1
                return Horizon(self.handed_out, frozenset(self.writers))
            if function.__name__ == "event_writers_running":
                self.writer_checks += 1
                self.writers = {writer: left - 1 for writer, left in self.writers.items() if left > 1}
                return frozenset(writer for writer in args[0] if writer in self.writers)
            self.batch_reads.append((kwargs["after_id"], kwargs["upto_id"]))
            if self.while_reading:
                self.while_reading()
            rows = [row for row in self.rows if kwargs["after_id"] < row["id"] <= kwargs["upto_id"]]
            return rows[: kwargs["limit"]]

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
        assert log.horizon_reads == 1
        assert the_hub.listeners == {first, second}
        the_hub.leave(first)
        the_hub.leave(second)
        assert the_hub.task is None

    asyncio.run(scenario())


def reads(times: int) -> tuple[list[int], int | None]:
    """A hub with one socket, from the start of the log, after ``times`` reads: what the socket was offered,
    and where the hub stands."""

    async def scenario() -> tuple[list[int], int | None]:
        the_hub, socket = Hub(), Socket()
        the_hub.listeners.add(socket)
        the_hub.last_id = 0
        for _ in range(times):
            await the_hub.read()
        return [message.id for message in socket.offered], the_hub.last_id

    return asyncio.run(scenario())


def test_a_backlog_longer_than_a_batch_is_read_batch_after_batch_in_order(log):
    assert reads(1) == ([1, 2, 3, 4, 5], 5)
    assert log.batch_reads == [(0, 5), (2, 5), (4, 5)]


def test_the_hub_reads_past_no_writer_that_may_still_commit_an_id_below_the_horizon(log):
    log.writers = {"4/17": 3}  # ends at the third check

    assert reads(1) == ([1, 2, 3, 4, 5], 5)
    assert log.writer_checks == 3
    # Nothing was read while the writer ran.
    assert log.batch_reads[0] == (0, 5)


def test_ids_handed_out_but_rolled_back_move_the_hub_past_them(log):
    log.handed_out = 9  # 6 to 9 were drawn by writers that rolled back

    assert reads(2) == ([1, 2, 3, 4, 5], 9)
    # The second read found nothing handed out after 9, and read no events.
    assert log.batch_reads == [(0, 9), (2, 9), (4, 9)]


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
    assert log.batch_reads == [(0, 5)]
    assert the_hub.last_id == 2


def test_a_hub_with_nobody_listening_reads_nothing(log):
    the_hub = Hub()
    the_hub.last_id = 0

    asyncio.run(the_hub.read())

    assert (log.horizon_reads, log.batch_reads) == (0, [])
