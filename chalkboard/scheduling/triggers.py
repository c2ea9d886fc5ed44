"""Each booking carries a copy of its session's teacher, school, start and status, kept by the database.

The dashboard's students' pass reads a teacher's bookings of the last and the next 90 days: through the
sessions, that is one probe of the bookings' index per session (770 for a busy teacher); from the copy, it is
one range of one index (``booking_teacher_start``), read without the tables (docs/performance.md). The copy is
written by triggers, never by the application, so that no write path (a service, a bulk update, a migration,
the shell) can leave it behind:

- a booking inserted, or written with its session or copy columns, takes its session's values;
- a session whose teacher, school, start or status changes passes them to its bookings.

The migration that added the copy installs the triggers. After every ``migrate`` (and after the test runner
makes its schema from the models), ``post_migrate`` makes any that is missing: on SQLite a migration that
remakes a table drops its triggers. It replaces the functions, which locks no table, and leaves the triggers
that exist alone, so that a deploy's ``migrate`` does not hold up a running site's writes.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

COPIED = ("teacher_id", "school_id", "starts_at", "status")  # of the session
COPY_COLUMNS = tuple(f"session_{name}" for name in COPIED)  # on its bookings, written by the database only

# The fill reads its session FOR SHARE: a booking written while another transaction changes its session would
# otherwise read the session as it was, and that transaction's spread would not see the booking, uncommitted;
# either one now waits for the other. The spread's own update of the bookings (trigger depth 1) needs no fill.
POSTGRESQL_FUNCTIONS = [
    """
CREATE OR REPLACE FUNCTION scheduling_booking_copy_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT teacher_id, school_id, starts_at, status
    INTO NEW.session_teacher_id, NEW.session_school_id, NEW.session_starts_at, NEW.session_status
    FROM scheduling_session WHERE id = NEW.session_id FOR SHARE;
    RETURN NEW;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION scheduling_session_copy_spread() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE scheduling_sessionstudent
    SET session_teacher_id = NEW.teacher_id, session_school_id = NEW.school_id,
        session_starts_at = NEW.starts_at, session_status = NEW.status
    WHERE session_id = NEW.id;
    RETURN NULL;
END
$$
""",
]

# Creating or replacing a trigger locks its table against writes for a moment; a function, no table.
POSTGRESQL_TRIGGERS: dict[str, tuple[str, ...]] = {
    "booking_copy_fill": (
        """
CREATE OR REPLACE TRIGGER booking_copy_fill
BEFORE INSERT OR UPDATE OF session_id, session_teacher_id, session_school_id, session_starts_at, session_status
ON scheduling_sessionstudent
FOR EACH ROW WHEN (pg_trigger_depth() < 1) EXECUTE FUNCTION scheduling_booking_copy_fill()
""",
    ),
    "session_copy_spread": (
        """
CREATE OR REPLACE TRIGGER session_copy_spread
AFTER UPDATE OF teacher_id, school_id, starts_at, status ON scheduling_session
FOR EACH ROW WHEN (
    OLD.teacher_id IS DISTINCT FROM NEW.teacher_id OR OLD.school_id IS DISTINCT FROM NEW.school_id
    OR OLD.starts_at IS DISTINCT FROM NEW.starts_at OR OLD.status IS DISTINCT FROM NEW.status
)
EXECUTE FUNCTION scheduling_session_copy_spread()
""",
    ),
}

# SQLite's triggers cannot change the row being written: the booking is updated right after instead. A
# trigger never fires itself again (recursive_triggers is off), so the fill's own update ends there.
_SQLITE_FILL = """
BEGIN
    UPDATE scheduling_sessionstudent
    SET (session_teacher_id, session_school_id, session_starts_at, session_status) = (
        SELECT teacher_id, school_id, starts_at, status FROM scheduling_session WHERE id = NEW.session_id
    )
    WHERE id = NEW.id;
END
"""
SQLITE_TRIGGERS: dict[str, tuple[str, ...]] = {
    "booking_copy_fill_insert": (
        "DROP TRIGGER IF EXISTS booking_copy_fill_insert",
        "CREATE TRIGGER booking_copy_fill_insert AFTER INSERT ON scheduling_sessionstudent" + _SQLITE_FILL,
    ),
    "booking_copy_fill_update": (
        "DROP TRIGGER IF EXISTS booking_copy_fill_update",
        """
CREATE TRIGGER booking_copy_fill_update
AFTER UPDATE OF session_id, session_teacher_id, session_school_id, session_starts_at, session_status
ON scheduling_sessionstudent"""
        + _SQLITE_FILL,
    ),
    "session_copy_spread": (
        "DROP TRIGGER IF EXISTS session_copy_spread",
        """
CREATE TRIGGER session_copy_spread
AFTER UPDATE OF teacher_id, school_id, starts_at, status ON scheduling_session
WHEN OLD.teacher_id IS NOT NEW.teacher_id OR OLD.school_id IS NOT NEW.school_id
    OR OLD.starts_at IS NOT NEW.starts_at OR OLD.status IS NOT NEW.status
BEGIN
    UPDATE scheduling_sessionstudent
    SET session_teacher_id = NEW.teacher_id, session_school_id = NEW.school_id,
        session_starts_at = NEW.starts_at, session_status = NEW.status
    WHERE session_id = NEW.id;
END
""",
    ),
}

BACKFILL = {
    "postgresql": """
UPDATE scheduling_sessionstudent AS booking
SET (session_teacher_id, session_school_id, session_starts_at, session_status) =
    (session.teacher_id, session.school_id, session.starts_at, session.status)
FROM scheduling_session AS session
WHERE session.id = booking.session_id
""",
    "sqlite": """
UPDATE scheduling_sessionstudent
SET (session_teacher_id, session_school_id, session_starts_at, session_status) = (
    SELECT teacher_id, school_id, starts_at, status FROM scheduling_session
    WHERE scheduling_session.id = scheduling_sessionstudent.session_id
)
""",
}


def install(connection: BaseDatabaseWrapper, *, replace: bool = True) -> bool:
    """Creates the triggers, where the bookings have their copy columns, and replaces them if ``replace``
    (else leaves those that exist as they are). Whether the bookings have the copy."""
    with connection.cursor() as cursor:
        # A ``migrate`` of other apps alone, on a new database, comes here before the table exists.
        if "scheduling_sessionstudent" not in connection.introspection.table_names(cursor):
            return False
        columns = {
            column.name
            for column in connection.introspection.get_table_description(cursor, "scheduling_sessionstudent")
        }
        if not set(COPY_COLUMNS) <= columns:
            return False
        if connection.vendor == "postgresql":  # only on PostgreSQL
            for function in POSTGRESQL_FUNCTIONS:
                cursor.execute(function)
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
                "('scheduling_sessionstudent'::regclass, 'scheduling_session'::regclass)"
            )
            triggers = POSTGRESQL_TRIGGERS
        else:  # only on SQLite
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            triggers = SQLITE_TRIGGERS
        present = {name for (name,) in cursor.fetchall()}
        for name, statements in triggers.items():
            if replace or name not in present:
                for statement in statements:
                    cursor.execute(statement)
    return True


def backfill(connection: BaseDatabaseWrapper) -> None:
    """Copies every session's values to its bookings (once, when the copy is added)."""
    with connection.cursor() as cursor:
        cursor.execute(BACKFILL["postgresql" if connection.vendor == "postgresql" else "sqlite"])


def install_after_migrate(*, using: str, **_: Any) -> None:
    """``post_migrate``: after every ``migrate``, and after the test runner makes its schema. Only what is
    missing: a deploy's ``migrate`` does not lock the tables of a running site (the functions are replaced,
    which locks nothing)."""
    from django.db import connections

    install(connections[using], replace=False)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    """Drops the triggers (the copy's migration, reversed)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # only on PostgreSQL
            cursor.execute("DROP TRIGGER IF EXISTS booking_copy_fill ON scheduling_sessionstudent")
            cursor.execute("DROP TRIGGER IF EXISTS session_copy_spread ON scheduling_session")
            cursor.execute("DROP FUNCTION IF EXISTS scheduling_booking_copy_fill()")
            cursor.execute("DROP FUNCTION IF EXISTS scheduling_session_copy_spread()")
        else:  # only on SQLite
            for name in ("booking_copy_fill_insert", "booking_copy_fill_update", "session_copy_spread"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
