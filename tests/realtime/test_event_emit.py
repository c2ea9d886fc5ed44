from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from chalkboard.common.cache import school_scope, school_sessions_scope, student_scope, teacher_scope, versions_get
from chalkboard.realtime import publishing, services
from chalkboard.realtime.log import event_horizon_read, event_writers_running
from chalkboard.realtime.models import Event, EventType
from chalkboard.realtime.services import EventDraft, event_emit, events_emit, school_changed

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
    announced = _recording(monkeypatch)
    scope = school_scope(world.school.pk)
    before = versions_get([scope])[scope]
    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={})
        school_changed(school_id=world.school.pk)
        raise RuntimeError

    assert not Event.objects.exists()
    assert versions_get([scope])[scope] == before
    assert announced == []


def test_school_changed_bumps_the_school(world):
    scope = school_scope(world.school.pk)
    before = versions_get([scope])[scope]
    school_changed(school_id=world.school.pk)
    assert versions_get([scope])[scope] == before + 1


def _recording(monkeypatch) -> list[tuple[int, set[str]]]:
    """The announcements the commit hooks make, each with the scopes bumped with it (still made)."""
    announced: list[tuple[int, set[str]]] = []
    real = services.events_announce

    def record(*, event_id: int, scopes) -> None:
        announced.append((event_id, set(scopes)))
        real(event_id=event_id, scopes=scopes)

    monkeypatch.setattr(services, "events_announce", record)
    return announced


def test_the_announcement_goes_out_after_commit_with_the_bumps(world, monkeypatch):
    announced = _recording(monkeypatch)
    with transaction.atomic():
        event = event_emit(
            type=EventType.SESSION_COMPLETED,
            school_id=world.school.pk,
            teacher_id=world.teacher.pk,
            student_ids=[world.student.pk],
            data={},
        )
        assert announced == []

    scopes = {
        teacher_scope(world.teacher.pk, world.school.pk),
        student_scope(world.student.pk),
        school_sessions_scope(world.school.pk),
    }
    assert announced == [(event.pk, scopes)]


def test_the_caches_are_bumped_before_a_hub_of_this_process_hears_of_the_event(world, monkeypatch):
    """A dashboard that refetches its page on an event must not be served the page from before it. (On Redis
    the bumps and the announcement are one pipeline, which Redis runs in order.)"""
    scope = teacher_scope(world.teacher.pk, world.school.pk)
    seen_versions = []
    bump = publishing.versions_bump
    # Nothing published, as without Redis: the writer tells this process's hubs itself.
    monkeypatch.setattr(publishing, "versions_bump", lambda scopes, publish: bump(scopes))

    class Hub:
        def nudge_from_any_thread(self, event_id: int) -> None:
            seen_versions.append(versions_get([scope])[scope])

    hub = Hub()
    publishing.local_hub_add(hub)
    try:
        with transaction.atomic():
            event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=world.teacher.pk, data={})
    finally:
        publishing.local_hub_remove(hub)

    assert seen_versions == [1]


def test_outside_a_transaction_the_event_commits_and_is_announced_at_once(world, monkeypatch):
    announced = _recording(monkeypatch)
    event = event_emit(type=EventType.SESSION_CREATED, school_id=world.school.pk, teacher_id=None, data={})
    assert [event_id for event_id, _ in announced] == [event.pk]
    assert Event.objects.filter(pk=event.pk).exists()


def _statements_of_emits(world, count: int) -> list[str]:
    """The SQL of ``count`` events emitted one by one in one transaction."""
    statements: list[str] = []

    def spy(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy), transaction.atomic():
        for _ in range(count):
            event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=world.teacher.pk, data={})
    return statements


@pytest.mark.postgres
def test_on_postgresql_each_insert_marks_its_transaction_a_writer_in_the_same_statement(world):
    statements = _statements_of_emits(world, count=3)

    inserts = [sql for sql in statements if sql.startswith('INSERT INTO "realtime_event"')]
    assert len(inserts) == 3
    assert all("pg_advisory_xact_lock_shared(%s, %s)" in sql for sql in inserts)
    assert not [sql for sql in statements if "pg_advisory" in sql and sql not in inserts]
    assert not [sql for sql in statements if "pg_advisory_xact_lock(" in sql]  # never an exclusive lock


def test_on_sqlite_no_lock_is_needed(world):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's statements")
    statements = _statements_of_emits(world, count=1)

    assert not [sql for sql in statements if "pg_advisory" in sql]
    assert [sql for sql in statements if sql.startswith('INSERT INTO "realtime_event"')]


def test_events_emitted_together_are_one_insert_in_their_order_with_their_data(world):
    drafts = [
        EventDraft(
            EventType.SESSION_COMPLETED, world.school.pk, world.teacher.pk, {"n": 1, "when": world.session.starts_at}
        ),
        EventDraft(EventType.EARNINGS_UPDATED, world.school.pk, None, {"n": 2}),
    ]
    statements: list[str] = []

    def spy(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy), transaction.atomic():
        events = events_emit(drafts)

    assert len([sql for sql in statements if "realtime_event" in sql]) == 1
    assert events[0].pk < events[1].pk
    stored = list(Event.objects.order_by("id").values_list("id", "type", "teacher_id", "data"))
    when = json.loads(json.dumps(world.session.starts_at, cls=DjangoJSONEncoder))
    assert stored == [
        (events[0].pk, "session.completed", world.teacher.pk, {"n": 1, "when": when}),
        (events[1].pk, "earnings.updated", None, {"n": 2}),
    ]
    assert all(event.occurred_at is not None for event in events)


def test_event_data_is_stored_exactly_whatever_its_characters(world):
    """The drafts travel as one JSON document: quotes, backslashes, braces, commas, line breaks, non-Latin
    text, nulls, nesting and decimals read back as the model's encoder wrote them, each in its own event."""
    awkward = {
        "text": 'Ana "the \\ teacher", {notes}; done\nnext',
        "names": ["Zoë", "Łukasz", "李", "🙂", ""],
        "nothing": None,
        "nested": {"list": [1, [2, {"three": 3.5}]], "flag": False},
        "amount": Decimal("29.38"),
        "big": 2**62,
    }
    drafts = [
        EventDraft(EventType.SESSION_UPDATED, world.school.pk, world.teacher.pk, awkward),
        EventDraft(EventType.EARNINGS_UPDATED, world.school.pk, None, {"text": '}"]', "list": []}),
    ]
    with transaction.atomic():
        events_emit(drafts)

    stored = list(Event.objects.order_by("id").values_list("type", "school_id", "teacher_id", "data"))
    assert stored == [
        ("session.updated", world.school.pk, world.teacher.pk, json.loads(json.dumps(awkward, cls=DjangoJSONEncoder))),
        ("earnings.updated", world.school.pk, None, {"text": '}"]', "list": []}),
    ]


def test_a_transaction_bumps_and_announces_once_however_many_events(world, monkeypatch):
    announced = _recording(monkeypatch)
    with transaction.atomic():
        for _ in range(3):
            event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=world.teacher.pk, data={})
        newest = event_emit(
            type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=world.teacher.pk, data={}
        )
        other = event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={})

    # Once each: the teacher's pages, and the school's sessions (its calendar feed); the newest id.
    assert announced == [
        (other.pk, {teacher_scope(world.teacher.pk, world.school.pk), school_sessions_scope(world.school.pk)})
    ]
    assert newest.pk < other.pk


def test_events_kept_after_a_savepoint_rolled_back_are_still_announced(world, monkeypatch):
    announced = _recording(monkeypatch)
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={})
            raise RuntimeError
        kept = event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={})

    assert list(Event.objects.values_list("id", flat=True)) == [kept.pk]
    assert [event_id for event_id, _ in announced] == [kept.pk]


@pytest.mark.postgres
def test_writers_never_wait_for_each_other_and_readers_wait_for_the_ones_that_can_commit_below_the_horizon(world):
    """Two writers hold their transactions open at once, in the same school: neither waits. A reader that
    looks meanwhile finds both as writers to wait for; once they end, none is left."""
    both_emitted, may_commit = threading.Barrier(3, timeout=5), threading.Event()
    ids: list[int] = []

    def writer():
        try:
            with transaction.atomic():
                ids.append(
                    event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={}).pk
                )
                both_emitted.wait()
                may_commit.wait(5)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    both_emitted.wait()  # both inserted their event without waiting for the other to commit

    horizon = event_horizon_read()
    assert horizon.latest == max(ids)
    assert len(horizon.writers) == 2
    assert event_writers_running(horizon.writers) == horizon.writers
    assert not Event.objects.exists()  # nothing up to the horizon may be read yet
    may_commit.set()
    for thread in threads:
        thread.join(10)

    assert event_writers_running(horizon.writers) == frozenset()
    assert sorted(Event.objects.values_list("id", flat=True)) == sorted(ids)


@pytest.mark.postgres
def test_the_event_id_sequence_hands_out_one_id_at_a_time():
    """A sequence with a cache would let a backend draw an id below a horizon a reader already trusts."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seqcache FROM pg_sequence WHERE seqrelid = pg_get_serial_sequence(%s, 'id')::regclass",
            [Event._meta.db_table],
        )
        assert cursor.fetchone() == (1,)


def test_events_after_other_work_awaiting_the_commit_still_bump_and_announce_once(world, monkeypatch):
    announced = _recording(monkeypatch)
    scope = school_scope(world.school.pk)
    before = versions_get([scope])[scope]
    with transaction.atomic():
        school_changed(school_id=world.school.pk)  # its own on-commit bump, registered first
        first = event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={})
        second = event_emit(type=EventType.SESSION_UPDATED, school_id=world.school.pk, teacher_id=None, data={})

    assert versions_get([scope])[scope] == before + 1
    assert [event_id for event_id, _ in announced] == [second.pk]
    assert first.pk < second.pk


def test_no_writers_to_wait_for_takes_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert event_writers_running(()) == frozenset()


def test_the_insert_names_only_columns(monkeypatch):
    from chalkboard.realtime import log

    assert log._column("school") == "school_id"
    monkeypatch.setattr(Event._meta, "get_field", lambda name: object())
    with pytest.raises(TypeError):
        log._column("school")
