from __future__ import annotations

import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, connections, transaction

from chalkboard.common.cache import school_scope, student_scope, teacher_scope, versions_get
from chalkboard.realtime import publishing
from chalkboard.realtime.models import Event, EventType
from chalkboard.realtime.publishing import staff_group, teacher_group
from chalkboard.realtime.services import EVENT_LOG_LOCK_KEY, event_emit, school_changed

pytestmark = pytest.mark.django_db(transaction=True)


def test_event_is_recorded_and_versions_bumped_on_commit(world):
    scopes = [teacher_scope(world.teacher.pk, world.school.pk), student_scope(world.student.pk)]
    assert set(versions_get(scopes).values()) == {0}
    with transaction.atomic():
        event = event_emit(
            type=EventType.SESSION_UPDATED,
            school_id=world.school.pk,
            teacher_id=world.teacher.pk,
            student_ids=[world.student.pk],
            data={"session_id": world.session.pk},
        )
        assert set(versions_get(scopes).values()) == {0}

    assert Event.objects.get() == event
    assert set(versions_get(scopes).values()) == {1}


def test_a_rolled_back_write_records_bumps_and_publishes_nothing(world, monkeypatch):
    published = []
    monkeypatch.setattr(publishing, "_send_all", _recording(published))
    scope = school_scope(world.school.pk)
    before = versions_get([scope])[scope]
    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={})
        school_changed(school_id=world.school.pk)
        raise RuntimeError

    assert not Event.objects.exists()
    assert versions_get([scope])[scope] == before
    assert published == []


def test_school_changed_bumps_the_school(world):
    scope = school_scope(world.school.pk)
    before = versions_get([scope])[scope]
    school_changed(school_id=world.school.pk)
    assert versions_get([scope])[scope] == before + 1


def _recording(published: list[tuple[list[str], dict[str, Any]]]):
    async def send_all(layer, groups, message):
        published.append((groups, message))

    return send_all


def test_the_nudge_goes_out_after_commit_to_the_school_staff_and_the_teacher(world, monkeypatch):
    published = []
    monkeypatch.setattr(publishing, "_send_all", _recording(published))
    with transaction.atomic():
        event = event_emit(
            type=EventType.SESSION_COMPLETED, school_id=world.school.pk, teacher_id=world.teacher.pk, data={}
        )
        assert published == []

    groups = [staff_group(world.school.pk), teacher_group(world.teacher.pk, world.school.pk)]
    assert published == [(groups, {"type": "events.available", "id": event.pk})]


def test_an_event_about_no_teacher_nudges_the_staff_only(world, monkeypatch):
    published = []
    monkeypatch.setattr(publishing, "_send_all", _recording(published))
    with transaction.atomic():
        event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={})

    assert [groups for groups, _ in published] == [[staff_group(world.school.pk)]]


def test_the_caches_are_bumped_before_the_nudge(world, monkeypatch):
    """A dashboard that refetches its page on an event must not be served the page from before it."""
    scope = teacher_scope(world.teacher.pk, world.school.pk)
    seen_versions = []

    async def send_all(layer, groups, message):
        seen_versions.append(versions_get([scope])[scope])

    monkeypatch.setattr(publishing, "_send_all", send_all)
    with transaction.atomic():
        event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=world.teacher.pk, data={})

    assert seen_versions == [1]


def test_outside_a_transaction_the_event_commits_and_is_published_at_once(world):
    layer = get_channel_layer()

    async def listen_and_emit():
        channel = await layer.new_channel()
        await layer.group_add(staff_group(world.school.pk), channel)
        from channels.db import database_sync_to_async

        event = await database_sync_to_async(event_emit)(
            type=EventType.SESSION_CREATED, school_id=world.school.pk, teacher_id=None, data={}
        )
        return event, await layer.receive(channel)

    event, nudge = async_to_sync(listen_and_emit)()
    assert nudge == {"type": "events.available", "id": event.pk}
    assert Event.objects.filter(pk=event.pk).exists()


def _statements_of_an_emit(world, vendor: str, monkeypatch) -> list[str]:
    """The SQL ``event_emit`` runs when the database is ``vendor`` (the lock itself is only executed on a
    real PostgreSQL: the statement is what this checks)."""
    wrapper = connections["default"]
    real_vendor = type(wrapper).vendor
    monkeypatch.setattr(wrapper, "vendor", vendor)
    statements: list[str] = []

    def spy(execute, sql, params, many, context):
        statements.append(sql % tuple(params) if params and "pg_advisory" in sql else sql)
        if "pg_advisory" in sql and real_vendor != "postgresql":
            return None
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy), transaction.atomic():
        event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=world.teacher.pk, data={})
    return statements


def test_on_postgresql_writers_take_the_event_log_lock_right_before_inserting(world, monkeypatch):
    statements = _statements_of_an_emit(world, "postgresql", monkeypatch)

    lock = f"SELECT pg_advisory_xact_lock({EVENT_LOG_LOCK_KEY})"
    insert = next(i for i, sql in enumerate(statements) if sql.startswith('INSERT INTO "realtime_event"'))
    assert statements[insert - 1] == lock
    assert statements.count(lock) == 1


def test_on_sqlite_no_lock_is_needed(world, monkeypatch):
    statements = _statements_of_an_emit(world, "sqlite", monkeypatch)

    assert not [sql for sql in statements if "pg_advisory" in sql]
    assert [sql for sql in statements if sql.startswith('INSERT INTO "realtime_event"')]


@pytest.mark.postgres
def test_event_ids_follow_commit_order_across_concurrent_writers(world):
    """A writer that emits after another has emitted cannot commit before it: so a reader that has seen
    an id has seen every id below it, and 'everything after id X' never skips a late commit."""
    first_emitted, first_may_commit = threading.Event(), threading.Event()
    second_committed = threading.Event()
    ids: dict[str, int] = {}

    def first():
        try:
            with transaction.atomic():
                ids["first"] = event_emit(
                    type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={}
                ).pk
                first_emitted.set()
                first_may_commit.wait(5)
        finally:
            connection.close()

    def second():
        try:
            with transaction.atomic():
                ids["second"] = event_emit(
                    type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={}
                ).pk
            second_committed.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_emitted.wait(5)
    threads[1].start()
    # The second writer waits for the first to commit.
    assert not second_committed.wait(0.5)
    assert "second" not in ids
    first_may_commit.set()
    for thread in threads:
        thread.join(10)

    assert second_committed.is_set()
    assert ids["first"] < ids["second"]
