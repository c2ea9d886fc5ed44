"""Model instances built from the rows of a statement written in SQL read exactly as the ORM reads them, on
either database: timestamps aware, amounts ``Decimal``, JSON decoded, the fields not selected deferred."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from psycopg import pq

from chalkboard.activity.models import ActivityLog
from chalkboard.activity.services import activity_record
from chalkboard.common.rows import Columns, rows_insert, rows_pipeline, rows_read
from chalkboard.earnings.models import EarningEntry
from chalkboard.scheduling.models import Session, SessionNote
from tests import factories as f

pytestmark = pytest.mark.django_db


def _row(columns: Columns, table: str, pk: int) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns.sql} FROM {table} AS {columns.alias} WHERE {columns.alias}.id = %s", [pk])  # noqa: S608
        return cursor.fetchone()


def test_every_field_of_a_row_reads_as_the_orm_reads_it(world):
    (entry,) = f.ledger_of(
        world.teacher, world.school, amounts=[Decimal("12.34")], statuses=("approved",), earned_at=timezone.now()
    )
    columns = Columns(EarningEntry, "entry")

    built = columns.build(_row(columns, "earnings_earningentry", entry.pk))

    loaded = EarningEntry.objects.get(pk=entry.pk)
    assert [getattr(built, name) for name in columns.attnames] == [getattr(loaded, name) for name in columns.attnames]
    assert isinstance(built.amount, Decimal)
    assert built.amount == entry.amount
    assert built.created_at.tzinfo is not None
    assert not built._state.adding
    assert built._state.db == "default"


def test_json_is_decoded_and_the_fields_left_out_are_deferred(world):
    activity_record(
        actor=world.owner, verb="x.done", object_type="x", object_id=1, school_id=world.school.pk, data={"a": [1, "b"]}
    )
    log = ActivityLog.objects.get(verb="x.done")
    columns = Columns(ActivityLog, "entry", ["data", "id", "verb"])  # in any order: read in the model's

    built = columns.build(_row(columns, "activity_activitylog", log.pk))

    assert columns.attnames == ["id", "verb", "data"]
    assert (built.pk, built.verb, built.data) == (log.pk, "x.done", {"a": [1, "b"]})
    assert built.get_deferred_fields() >= {"created_at", "actor_id", "school_id"}
    assert built.created_at == log.created_at  # read on first use, like any deferred field


def test_rows_inserted_in_sql_read_back_as_the_orm_would_have_written_them(world):
    session = f.session_for(world.teacher, world.student)
    notes = [
        SessionNote(session=session, author=world.owner, visibility="admin", text="First"),
        SessionNote(session=session, author=world.teacher.user, visibility="shared", text="Second"),
    ]
    before = timezone.now()

    rows_insert(notes)

    loaded = {note.pk: note for note in SessionNote.objects.filter(session=session)}
    assert [note.pk for note in notes] == sorted(loaded)  # the keys, in the order given
    fields = [field.attname for field in SessionNote._meta.concrete_fields]
    for note in notes:
        assert [getattr(note, name) for name in fields] == [getattr(loaded[note.pk], name) for name in fields]
        assert note.created_at >= before  # auto_now_add stamps the instance, as save() would
        assert not note._state.adding
        assert note._state.db == "default"


def test_rows_inserted_without_keys_land_as_with_them_and_leave_the_instances_keyless(world):
    session = f.session_for(world.teacher, world.student)
    notes = [
        SessionNote(session=session, author=world.owner, visibility="admin", text="First"),
        SessionNote(session=session, author=world.teacher.user, visibility="shared", text="Second"),
    ]

    rows_insert(notes, keys=False)

    assert [note.pk for note in notes] == [None, None]
    stored = SessionNote.objects.filter(session=session).order_by("id")
    assert [(note.author_id, note.visibility, note.text) for note in stored] == [
        (world.owner.pk, "admin", "First"),
        (world.teacher.user.pk, "shared", "Second"),
    ]


def test_json_goes_in_as_the_orm_writes_it_and_no_rows_cost_no_statement(world, django_assert_num_queries):
    line = ActivityLog(verb="x.sql", object_type="x", school_id=world.school.pk, data={"a": [1, "b"], "n": None})

    with django_assert_num_queries(0):
        rows_insert([])
    rows_insert([line])

    assert ActivityLog.objects.get(pk=line.pk).data == {"a": [1, "b"], "n": None}
    assert ActivityLog.objects.filter(data__a=[1, "b"]).get().pk == line.pk  # stored as JSON, not as a string


def test_statements_read_together_answer_as_each_alone_and_in_order(world, django_assert_num_queries):
    statements = [
        ("SELECT id, name FROM schools_school WHERE id = %(school)s", {"school": world.school.pk}),
        ("SELECT id FROM schools_school WHERE id = %s AND id <> %s ORDER BY id", [world.school.pk, 0]),
        ("SELECT id FROM schools_school WHERE id < 0", []),
    ]
    alone = [rows_read([statement]) for statement in statements]

    with django_assert_num_queries(3):
        together = rows_read(statements)

    assert together == [rows for (rows,) in alone]
    assert together[0] == [(world.school.pk, world.school.name)]
    assert together[2] == []
    assert rows_read([]) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a pipeline is PostgreSQL's")
def test_on_postgresql_the_statements_go_out_in_one_pipeline(world):
    connection.ensure_connection()
    raw = connection.connection
    with mock.patch.object(type(raw), "pipeline", autospec=True, side_effect=type(raw).pipeline) as pipeline:
        rows_read([("SELECT 1", []), ("SELECT 2", [])])
        rows_read([("SELECT 3", [])])  # one statement: no pipeline to make

    pipeline.assert_called_once()
    assert raw.pgconn.pipeline_status == pq.PipelineStatus.OFF  # left, for the statements that follow


def test_a_failing_statement_among_others_raises_the_databases_error(world):
    with pytest.raises(DatabaseError), transaction.atomic():
        rows_read([("SELECT 1", []), ("SELECT * FROM no_such_table", []), ("SELECT 2", [])])

    assert rows_read([("SELECT 1", []), ("SELECT 2", [])]) == [[(1,)], [(2,)]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a pipeline is PostgreSQL's")
def test_a_pipeline_that_breaks_on_leaving_raises_djangos_error_and_marks_the_connection(world):
    real_exit = psycopg.Pipeline.__exit__

    def broken(self, *exc_info):
        real_exit(self, *exc_info)
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    try:
        with mock.patch.object(psycopg.Pipeline, "__exit__", broken), pytest.raises(OperationalError):
            rows_read([("SELECT 1", []), ("SELECT 2", [])])
        assert connection.errors_occurred  # Django checks such a connection before it serves again
    finally:
        connection.errors_occurred = False


def test_writes_in_a_pipeline_land_as_without_one_and_in_order(world):
    session = world.session
    with transaction.atomic(), rows_pipeline():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE scheduling_session SET location = %s WHERE id = %s", ["Room 1", session.pk])
            cursor.execute("UPDATE scheduling_session SET location = location || %s WHERE id = %s", ["B", session.pk])
        (note,) = [SessionNote(session=session, author=world.teacher.user, text="Read at once")]
        rows_insert([note])  # reads its key: waits for the updates before it too
        with connection.cursor() as cursor:
            cursor.execute("SELECT location FROM scheduling_session WHERE id = %s", [session.pk])
            assert cursor.fetchone() == ("Room 1B",)

    assert Session.objects.get(pk=session.pk).location == "Room 1B"
    assert SessionNote.objects.get(pk=note.pk).text == "Read at once"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a pipeline is PostgreSQL's")
def test_on_postgresql_a_write_in_a_pipeline_is_sent_without_waiting_and_the_block_ends_it(world):
    connection.ensure_connection()
    raw = connection.connection
    with transaction.atomic(), rows_pipeline():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE scheduling_session SET location = %s WHERE id = %s", ["Room 2", world.session.pk])
        assert raw.pgconn.pipeline_status == pq.PipelineStatus.ON

    assert raw.pgconn.pipeline_status == pq.PipelineStatus.OFF  # left, for the statements that follow
    assert Session.objects.get(pk=world.session.pk).location == "Room 2"


def test_a_write_that_fails_in_a_pipeline_raises_djangos_error_and_undoes_the_transaction(world):
    before = Session.objects.get(pk=world.session.pk)
    with pytest.raises(IntegrityError), transaction.atomic(), rows_pipeline(), connection.cursor() as cursor:
        cursor.execute("UPDATE scheduling_session SET location = %s WHERE id = %s", ["Room 3", world.session.pk])
        # session_planned_duration_range: at most 720 minutes
        cursor.execute(
            "UPDATE scheduling_session SET planned_duration_minutes = 9999 WHERE id = %s", [world.session.pk]
        )

    assert Session.objects.get(pk=world.session.pk).location == before.location
    assert rows_read([("SELECT 1", []), ("SELECT 2", [])]) == [[(1,)], [(2,)]]  # the connection serves on
