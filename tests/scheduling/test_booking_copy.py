"""Each booking's copy of its session's teacher, school, start and status is kept by the database, whatever
writes the session or the booking: the ORM's instances, bulk writes, plain SQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from unittest import mock

import pytest
from django.apps import apps
from django.db import connection, connections, transaction
from django.db.models.signals import post_migrate
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chalkboard.scheduling import triggers
from chalkboard.scheduling.models import Session, SessionStudent
from tests import factories as f
from tests.conftest import SchoolWorld


def copies(session: Session) -> set[tuple[object, ...]]:
    """The copy each of the session's bookings carries, as read from the database."""
    return set(
        SessionStudent.objects.filter(session=session).values_list(
            "session_teacher_id", "session_school_id", "session_starts_at", "session_status"
        )
    )


def values_of(session: Session) -> set[tuple[object, ...]]:
    session.refresh_from_db()
    return {(session.teacher_id, session.school_id, session.starts_at, session.status)}


@pytest.mark.django_db
def test_a_booking_takes_its_sessions_values_however_it_is_inserted(world: SchoolWorld):
    # world.session's bookings came from bulk_create; these from create and from plain SQL.
    session = f.session_for(world.teacher, world.student)
    SessionStudent.objects.create(session=session, student=world.other_student)
    later = f.session_for(world.teacher, starts_at=timezone.now() + timedelta(days=3), school=world.school)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scheduling_sessionstudent (session_id, student_id, attendance) VALUES (%s, %s, '')",
            [later.pk, world.student.pk],
        )

    assert copies(world.session) == values_of(world.session)
    assert len(SessionStudent.objects.filter(session=session)) == 2
    assert copies(session) == values_of(session)
    assert copies(later) == values_of(later)


@pytest.mark.django_db
def test_a_sessions_change_reaches_all_its_bookings(world: SchoolWorld):
    session = f.session_for(world.teacher, world.student, world.other_student)
    untouched = copies(world.other_session)

    session.starts_at += timedelta(hours=2)
    session.save()  # every column
    assert copies(session) == values_of(session)

    Session.objects.filter(pk=session.pk).update(teacher=world.other_teacher, status="cancelled")
    assert (
        copies(session)
        == values_of(session)
        == {(world.other_teacher.pk, world.school.pk, session.starts_at, "cancelled")}
    )

    with connection.cursor() as cursor:
        cursor.execute("UPDATE scheduling_session SET status = 'scheduled' WHERE id = %s", [session.pk])
    assert copies(session) == values_of(session)
    assert copies(world.other_session) == untouched


@pytest.mark.django_db
def test_a_booking_never_keeps_a_copy_written_to_it(world: SchoolWorld):
    booking = SessionStudent.objects.get(session=world.session, student=world.student)

    SessionStudent.objects.filter(pk=booking.pk).update(session_status="completed", session_teacher_id=0)
    assert copies(world.session) == values_of(world.session)

    # An instance saved whole writes its copy columns too (null here): the database puts the session's back.
    booking.session_starts_at = None
    booking.save()
    assert copies(world.session) == values_of(world.session)

    # Moved to another session, it takes that session's values.
    SessionStudent.objects.filter(pk=booking.pk).update(session=world.other_session)
    assert copies(world.other_session) == values_of(world.other_session)


@pytest.mark.django_db
def test_attendance_written_alone_leaves_the_copy_as_it_is(world: SchoolWorld):
    SessionStudent.objects.filter(session=world.session).update(attendance="present")

    assert copies(world.session) == values_of(world.session)
    assert set(SessionStudent.objects.filter(session=world.session).values_list("attendance", flat=True)) == {"present"}


@pytest.mark.django_db
def test_the_triggers_come_back_after_a_migrate_and_the_backfill_copies_every_booking(world: SchoolWorld):
    """On SQLite a migration that remakes a table drops its triggers: post_migrate installs them again. The
    copy's migration fills the bookings that exist (``backfill``)."""
    triggers.uninstall(connection)
    Session.objects.filter(pk=world.session.pk).update(status="cancelled")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE scheduling_sessionstudent SET session_school_id = NULL")
    assert copies(world.session) == {(world.teacher.pk, None, world.session.starts_at, "scheduled")}

    triggers.backfill(connection)
    assert copies(world.session) == values_of(world.session)
    assert copies(world.other_session) == values_of(world.other_session)

    scheduling = apps.get_app_config("scheduling")
    post_migrate.send(sender=scheduling, app_config=scheduling, using="default")
    Session.objects.filter(pk=world.session.pk).update(status="scheduled")
    assert copies(world.session) == values_of(world.session)


@pytest.mark.django_db
def test_after_a_migrate_only_a_missing_trigger_is_made(world: SchoolWorld):
    """A deploy's ``migrate`` must not lock the tables of a running site to replace triggers that exist."""
    scheduling = apps.get_app_config("scheduling")
    with CaptureQueriesContext(connection) as untouched:
        post_migrate.send(sender=scheduling, app_config=scheduling, using="default")
    assert not [query for query in untouched.captured_queries if " TRIGGER " in query["sql"]]

    spread = "session_copy_spread"
    with connection.cursor() as cursor:
        cursor.execute(
            f"DROP TRIGGER {spread} ON scheduling_session"  # only on PostgreSQL
            if connection.vendor == "postgresql"
            else f"DROP TRIGGER {spread}"  # only on SQLite
        )
    with CaptureQueriesContext(connection) as remade:
        post_migrate.send(sender=scheduling, app_config=scheduling, using="default")
    made = [
        query["sql"] for query in remade.captured_queries if "CREATE" in query["sql"] and " TRIGGER " in query["sql"]
    ]
    assert len(made) == 1
    assert spread in made[0]
    Session.objects.filter(pk=world.session.pk).update(status="cancelled")
    assert copies(world.session) == values_of(world.session)


@pytest.mark.django_db
def test_install_leaves_a_schema_without_the_copy_alone(world: SchoolWorld):
    columns = connection.introspection.get_table_description

    def without_copy(cursor, table):
        return [column for column in columns(cursor, table) if not column.name.startswith("session_s")]

    with mock.patch.object(connection.introspection, "get_table_description", side_effect=without_copy):
        assert triggers.install(connection) is False
    with mock.patch.object(connection.introspection, "table_names", return_value=["scheduling_session"]):
        assert triggers.install(connection) is False  # not migrated yet
    assert triggers.install(connection) is True


def _until_waiting_or_done(other: threading.Thread, *, timeout: float = 5.0) -> None:
    """Until the other transaction waits on a lock (PostgreSQL), or has finished without waiting."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline and other.is_alive():
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)


def _in_another_transaction(work: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        try:
            with transaction.atomic():
                work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["booking", "session"])
def test_a_booking_written_while_its_session_changes_ends_with_the_sessions_values(world: SchoolWorld, first: str):
    """Whichever of the two transactions writes first, the copy is the session's: without a lock on the session,
    the booking read the session as it was, and the session's change did not see the booking, uncommitted."""
    session = f.session_for(world.teacher, world.student)

    def book() -> None:
        SessionStudent.objects.create(session=session, student=world.other_student)

    def cancel() -> None:
        Session.objects.filter(pk=session.pk).update(status="cancelled")

    with transaction.atomic():
        (book if first == "booking" else cancel)()
        other = _in_another_transaction(cancel if first == "booking" else book)
        _until_waiting_or_done(other)
    other.join(timeout=10)

    assert not other.is_alive()
    assert (
        copies(session) == values_of(session) == {(world.teacher.pk, world.school.pk, session.starts_at, "cancelled")}
    )
