"""The transitions that end a session and pay its teacher: complete, amend a completed one, no-show.

Each runs in one transaction that locks the session row and re-checks its state under the lock, so two
concurrent completions cannot both succeed; the ledger's one-entry-per-session constraint is the backstop.
Each records its activity line and its events (``session.completed`` / ``session.updated`` and
``earnings.updated``) in the same transaction: a rolled-back write leaves neither. An amendment that changes
nothing writes nothing at all. Pay a teacher claims beyond the school's bounds is held for the school's review
(see ``chalkboard.earnings.services``); pay the school's owners and admins write themselves is not.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, cast

from django.db import connection, transaction
from django.utils import timezone

from chalkboard.accounts.models import User
from chalkboard.activity.services import activity_record
from chalkboard.common.api import MAX_ID
from chalkboard.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chalkboard.common.rows import Columns, rows_insert, rows_pipeline
from chalkboard.earnings.models import EarningEntry, EarningKind
from chalkboard.earnings.services import (
    GROUP_RATE,
    ONE_TO_ONE_RATE,
    earning_record_for_session,
    earning_session_amend,
    earnings_events,
    hourly_rate_read,
    session_rate_sql,
)
from chalkboard.people.models import Student, Teacher
from chalkboard.realtime.models import EventType
from chalkboard.realtime.services import EventDraft, events_emit
from chalkboard.scheduling.models import Attendance, Session, SessionNote, SessionStatus, SessionStudent
from chalkboard.scheduling.selectors import BOOKED, note_visibilities_for, session_managed_in
from chalkboard.scheduling.serializers import session_payload
from chalkboard.schools.access import STAFF, Viewer
from chalkboard.schools.models import Role, School, Subject

NOTE_LEVEL_FORBIDDEN = "Only the school's owners and admins may write admin notes."
NOT_STARTED = "The session has not started yet."
NOT_COMPLETED = "Only a completed session can be amended."
ATTENDANCE_MISMATCH = "Attendance must list every student of the session exactly once, and no one else."
FINAL_STATE: dict[str, tuple[str, str]] = {
    SessionStatus.CANCELLED: ("The session was cancelled.", "session_cancelled"),
    SessionStatus.NO_SHOW: ("The session is already marked as a no-show.", "session_no_show"),
    SessionStatus.COMPLETED: ("The session is already completed.", "session_completed"),
}


@dataclass(frozen=True)
class AttendanceMark:
    student_id: int
    status: str


@dataclass(frozen=True)
class NoteDraft:
    visibility: str
    text: str


@dataclass(frozen=True)
class SessionOutcome:
    """The session after a transition, and the body the API answers with (the session item and its earning)."""

    session: Session
    body: dict[str, Any]


def earning_brief(entries: Sequence[EarningEntry]) -> dict[str, Any] | None:
    """A session's own entry as ``{id, amount, currency, status, kind, hold_reason}`` with its adjustments,
    or ``None``."""
    own = next((entry for entry in entries if entry.kind != EarningKind.ADJUSTMENT), None)
    if own is None:
        return None
    return {
        "id": own.pk,
        "amount": f"{own.amount:.2f}",
        "currency": own.currency,
        "status": own.status,
        "kind": own.kind,
        "hold_reason": own.hold_reason,
        "adjustments": [
            {"id": entry.pk, "amount": f"{entry.amount:.2f}", "status": entry.status, "hold_reason": entry.hold_reason}
            for entry in entries
            if entry.adjusts_id == own.pk
        ],
    }


def _require_note_levels(viewer: Viewer, session: Session, notes: Sequence[NoteDraft]) -> None:
    allowed = note_visibilities_for(viewer=viewer, session=session)
    if any(note.visibility not in allowed for note in notes):
        raise Forbidden(NOTE_LEVEL_FORBIDDEN, code="note_level_forbidden")


# The session a transition locks, with what the ledger and the answer need (its school, its subject's and its
# teacher's names, the hourly rates that apply), if the viewer manages it: the school's owners and admins, or
# the session's own teacher (``session_may_manage``); then its seats with their students' names. Written in SQL:
# built with the ORM (three joined tables, two rate subqueries, the access check), these statements cost
# several times their execution to build, on the path of every completion (profiled). Plain SQL that SQLite
# and PostgreSQL both run; SQLite, which locks the whole database for a write, has no FOR UPDATE.
SESSION = Columns(Session, "session")
SCHOOL = Columns(School, "school")
SUBJECT = Columns(Subject, "subject", ["id", "name"])
PERSON = Columns(User, "person", ["id", "full_name"])
LOCK_SQL = f"""
SELECT {SESSION.sql}, {SCHOOL.sql}, {SUBJECT.sql}, {PERSON.sql},
       {session_rate_sql(session="session", is_group=False)}, {session_rate_sql(session="session", is_group=True)}
FROM scheduling_session AS session
JOIN schools_school AS school ON school.id = session.school_id
JOIN schools_subject AS subject ON subject.id = session.subject_id
JOIN accounts_user AS person ON person.id = session.teacher_id
WHERE session.id = %s AND ({{managed}})
"""  # noqa: S608 (quoted model metadata)  # nosec B608
SEAT = Columns(SessionStudent, "seat", ["id", "session_id", "student_id", "attendance"])
STUDENT = Columns(Student, "student", ["id", "user_id"])
SEATS_SQL = f"""
SELECT {SEAT.sql}, {STUDENT.sql}, {PERSON.sql}
FROM scheduling_sessionstudent AS seat
JOIN people_student AS student ON student.id = seat.student_id
JOIN accounts_user AS person ON person.id = student.user_id
WHERE seat.session_id = %s
ORDER BY seat.id
"""  # noqa: S608 (quoted model metadata)  # nosec B608


def _placeholders(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _lock(viewer: Viewer, session_id: int) -> tuple[Session, list[SessionStudent]]:
    """The session, if the viewer may manage it, locked until the transaction ends and read with what the
    ledger and the answer need, then its seats with their students: two queries. A session the viewer does not
    manage (or no session) is looked up again by ``session_managed_in``, for its 404 or 403."""
    managed, params = [], [session_id]
    if staff := viewer.schools_where(*STAFF):
        managed.append(f"session.school_id IN ({_placeholders(staff)})")
        params += staff
    if teaching := viewer.schools_where(Role.TEACHER):
        managed.append(f"(session.school_id IN ({_placeholders(teaching)}) AND session.teacher_id = %s)")
        params += [*teaching, viewer.teacher_id]
    row, seats = None, []
    if managed and 0 < session_id <= MAX_ID:
        lock = "FOR UPDATE OF session" if connection.vendor == "postgresql" else ""
        # Both sent together and read after (on PostgreSQL, one round trip). The seats are read once the
        # lock is taken, and only used if it was.
        with connection.cursor() as locking, connection.cursor() as seating:
            with rows_pipeline():
                locking.execute(LOCK_SQL.format(managed=" OR ".join(managed)) + lock, params)
                seating.execute(SEATS_SQL, [session_id])
            row, seats = locking.fetchone(), seating.fetchall()
    if row is None:
        _lock_refused(viewer, session_id)
    return _session_of_row(row), [_seat_of_row(seat) for seat in seats]


def _session_of_row(row: Sequence[Any]) -> Session:
    at = 0

    def take(columns: Columns[Any]) -> Any:
        nonlocal at
        built = columns.build(row[at : at + len(columns)])
        at += len(columns)
        return built

    session, school, subject, person = take(SESSION), take(SCHOOL), take(SUBJECT), take(PERSON)
    teacher = Teacher.from_db(connection.alias, ["user_id"], [person.pk])
    teacher.user = person
    session.school, session.subject, session.teacher = school, subject, teacher
    one_to_one, group = row[at:]
    setattr(session, ONE_TO_ONE_RATE, hourly_rate_read(one_to_one))
    setattr(session, GROUP_RATE, hourly_rate_read(group))
    return session


def _seat_of_row(row: Sequence[Any]) -> SessionStudent:
    seat = SEAT.build(row[: len(SEAT)])
    student = STUDENT.build(row[len(SEAT) : len(SEAT) + len(STUDENT)])
    student.user = PERSON.build(row[len(SEAT) + len(STUDENT) :])
    seat.student = student
    return seat


def _lock_refused(viewer: Viewer, session_id: int) -> NoReturn:
    """Why the viewer may not lock the session: ``session_managed_in``'s 404 (they may not see it) or 403
    (they only may see it). Should it find the session theirs to manage after all, the two checks disagree,
    and the session is refused all the same."""
    session_managed_in(Session.objects.only("id", "school_id", "teacher_id"), viewer=viewer, session_id=session_id)
    raise NotFound()


def _attendance_write(seats: Sequence[SessionStudent]) -> None:
    """Store the seats' attendance: ``bulk_update(seats, ["attendance"])`` as one plain statement, for the
    reason given at ``LOCK_SQL``."""
    if not seats:
        return
    cases = " ".join(["WHEN %s THEN %s"] * len(seats))
    sql = f"UPDATE scheduling_sessionstudent SET attendance = CASE id {cases} END WHERE id IN ({_placeholders(seats)})"  # noqa: S608 (placeholders only)  # nosec B608
    params = [value for seat in seats for value in (seat.pk, seat.attendance)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *(seat.pk for seat in seats)])


def _session_write(session: Session, names: Sequence[str]) -> None:
    """Store the named fields of the locked session and touch its ``updated_at``: ``save(update_fields=...)``
    as one plain statement, for the reason given at ``LOCK_SQL`` (no signal listens to sessions' saves)."""
    session.updated_at = timezone.now()
    columns = _session_columns(tuple(names))
    assignments = ", ".join(f"{column} = %s" for column in columns.quoted)
    values = [field.get_db_prep_save(getattr(session, field.attname), connection) for field in columns.fields]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE scheduling_session SET {assignments} WHERE id = %s", [*values, session.pk])  # noqa: S608 (quoted model metadata)  # nosec B608


@functools.cache
def _session_columns(names: tuple[str, ...]) -> Columns[Session]:
    return Columns(Session, "scheduling_session", [*names, "updated_at"])


def _require_open_and_started(session: Session, now: datetime) -> None:
    final = FINAL_STATE.get(session.status)
    if final is not None:
        message, code = final
        raise Conflict(message, code=code)
    if session.starts_at > now:
        raise Conflict(NOT_STARTED, code="session_not_started")


def _attendance_changes(seats: Sequence[SessionStudent], marks: Sequence[AttendanceMark]) -> list[SessionStudent]:
    """The seats whose attendance ``marks`` change, set to it; ``marks`` must name every student once."""
    given = [mark.student_id for mark in marks]
    if len(given) != len(set(given)) or set(given) != {seat.student_id for seat in seats}:
        raise ValidationFailed(ATTENDANCE_MISMATCH, fields={"attendance": [ATTENDANCE_MISMATCH]})
    status_of = {mark.student_id: mark.status for mark in marks}
    changed = [seat for seat in seats if seat.attendance != status_of[seat.student_id]]
    for seat in changed:
        seat.attendance = status_of[seat.student_id]
    return changed


def _add_notes(session: Session, viewer: Viewer, notes: Sequence[NoteDraft]) -> None:
    if notes:
        rows_insert(
            [
                SessionNote(session=session, author=viewer.user, visibility=note.visibility, text=note.text)
                for note in notes
            ],
            keys=False,
        )


def _outcome(session: Session, seats: list[SessionStudent], entries: Sequence[EarningEntry]) -> SessionOutcome:
    """The session as it now stands (from the locked row and seats, updated in place) and its earning."""
    setattr(session, BOOKED, seats)
    item = session_payload(session)
    return SessionOutcome(session=session, body={**item, "earning": earning_brief(entries)})


def _finish(
    *,
    viewer: Viewer,
    session: Session,
    seats: list[SessionStudent],
    verb: str,
    event: EventType,
    written: Sequence[EarningEntry],
    entries: Sequence[EarningEntry],
) -> SessionOutcome:
    """Activity, events and the answer of a transition, all inside its transaction."""
    outcome = _outcome(session, seats, entries)
    item = {key: value for key, value in outcome.body.items() if key != "earning"}
    activity_record(
        actor=viewer.user,
        verb=verb,
        object_type="session",
        object_id=session.pk,
        school_id=session.school_id,
        teacher_id=session.teacher_id,
        data={
            "status": session.status,
            "actual_duration_minutes": session.actual_duration_minutes,
            "version": session.version,
            "earning_entry_ids": [entry.pk for entry in written],
        },
    )
    events_emit(
        [
            EventDraft(
                event,
                session.school_id,
                session.teacher_id,
                {"session": item, "earning": outcome.body["earning"]},
                [seat.student_id for seat in seats],
            ),
            *earnings_events(school_id=session.school_id, entries=written),
        ]
    )
    return outcome


def _write_and_finish(
    *,
    viewer: Viewer,
    session: Session,
    seats: list[SessionStudent],
    changed: Sequence[SessionStudent],
    names: Sequence[str],
    notes: Sequence[NoteDraft],
    verb: str,
    event: EventType,
    entries: Sequence[EarningEntry],
) -> SessionOutcome:
    """A completion's or a no-show's writes once its entry (``entries``: none, or the one it wrote) is in:
    the seats whose attendance ``changed``, the session's fields ``names``, the notes, then the activity and
    the events, in one pipeline (the round trips are told above ``session_complete``)."""
    with rows_pipeline():
        _attendance_write(changed)
        _session_write(session, names)
        _add_notes(session, viewer, notes)
        return _finish(
            viewer=viewer, session=session, seats=seats, verb=verb, event=event, written=entries, entries=entries
        )


def _entries_of(session: Session) -> list[EarningEntry]:
    return list(EarningEntry.objects.filter(session=session).order_by("id"))


# The round trips of a transition on PostgreSQL: its BEGIN (psycopg sends it alone); the session's lock and its
# seats, together (``rows_pipeline``); the earning entry alone, so that a clash with the session's one entry
# (``earning_one_per_session``) is told apart from any other failure; the attendance, the session, the notes,
# the activity line and the events together, in a pipeline that reads the events' ids (two); the COMMIT. Six
# where each statement once made its own (ten). An amendment's ledger saves through the ORM, which must run
# outside a pipeline.


def session_complete(
    *,
    viewer: Viewer,
    session_id: int,
    attendance: Sequence[AttendanceMark],
    actual_duration_minutes: int,
    notes: Sequence[NoteDraft] = (),
) -> SessionOutcome:
    """Complete a started, scheduled session: attendance, duration, notes, and its one earning entry."""
    with transaction.atomic():
        now = timezone.now()
        locked, seats = _lock(viewer, session_id)
        _require_note_levels(viewer, locked, notes)
        _require_open_and_started(locked, now)
        changed = _attendance_changes(seats, attendance)
        locked.status, locked.completed_at, locked.completed_by = SessionStatus.COMPLETED, now, viewer.user
        locked.actual_duration_minutes = actual_duration_minutes
        locked.version += 1
        # Alone, before the rest (the round trips are told above session_complete).
        entry = earning_record_for_session(
            session=locked,
            kind=EarningKind.SESSION,
            minutes=actual_duration_minutes,
            by_staff=viewer.is_staff_of(locked.school_id),
            students=len(seats),
        )
        # A session is completed once: its entry is its only one.
        return _write_and_finish(
            viewer=viewer,
            session=locked,
            seats=seats,
            changed=changed,
            names=["status", "completed_at", "completed_by", "actual_duration_minutes", "version"],
            notes=notes,
            verb="session.completed",
            event=EventType.SESSION_COMPLETED,
            entries=[entry],
        )


def session_amend(
    *,
    viewer: Viewer,
    session_id: int,
    attendance: Sequence[AttendanceMark] | None = None,
    actual_duration_minutes: int | None = None,
    notes: Sequence[NoteDraft] = (),
) -> SessionOutcome:
    """Correct a completed session. Its earnings follow: see ``earning_session_amend`` (which also refuses a
    session paid longer ago than the school allows). Exactly what the session already says changes nothing:
    no version, no ledger entry, no activity, no event."""
    with transaction.atomic():
        locked, seats = _lock(viewer, session_id)
        _require_note_levels(viewer, locked, notes)
        if locked.status != SessionStatus.COMPLETED:
            raise Conflict(NOT_COMPLETED, code="session_not_completed")
        # A completed session always has a duration (session_completed_has_duration).
        previous_minutes = cast(int, locked.actual_duration_minutes)
        changed = _attendance_changes(seats, attendance) if attendance is not None else []
        minutes = previous_minutes if actual_duration_minutes is None else actual_duration_minutes
        if not (changed or notes or minutes != previous_minutes):
            return _outcome(locked, seats, _entries_of(locked))
        locked.actual_duration_minutes = minutes
        locked.version += 1
        with rows_pipeline():
            _attendance_write(changed)
            _session_write(locked, ["actual_duration_minutes", "version"])
            _add_notes(locked, viewer, notes)
        # The ledger's amendment saves through the ORM: outside any pipeline.
        written = earning_session_amend(
            session=locked,
            minutes=minutes,
            previous_minutes=previous_minutes,
            by_staff=viewer.is_staff_of(locked.school_id),
        )
        entries = _entries_of(locked)
        with rows_pipeline():
            return _finish(
                viewer=viewer,
                session=locked,
                seats=seats,
                verb="session.amended",
                event=EventType.SESSION_UPDATED,
                written=written,
                entries=entries,
            )


def session_no_show(*, viewer: Viewer, session_id: int, notes: Sequence[NoteDraft] = ()) -> SessionOutcome:
    """Nobody came to a started, scheduled session: everyone absent, and a no-show entry for the planned
    duration when the school pays no-shows."""
    with transaction.atomic():
        now = timezone.now()
        locked, seats = _lock(viewer, session_id)
        _require_note_levels(viewer, locked, notes)
        _require_open_and_started(locked, now)
        for seat in seats:
            seat.attendance = Attendance.ABSENT
        locked.status, locked.completed_at, locked.completed_by = SessionStatus.NO_SHOW, now, viewer.user
        locked.version += 1
        written: list[EarningEntry] = []
        if locked.school.no_show_billable:  # alone, before the rest (as in session_complete)
            written.append(
                earning_record_for_session(
                    session=locked,
                    kind=EarningKind.NO_SHOW,
                    minutes=locked.planned_duration_minutes,
                    by_staff=viewer.is_staff_of(locked.school_id),
                    students=len(seats),
                )
            )
        return _write_and_finish(
            viewer=viewer,
            session=locked,
            seats=seats,
            changed=seats,
            names=["status", "completed_at", "completed_by", "version"],
            notes=notes,
            verb="session.no_show",
            event=EventType.SESSION_UPDATED,
            entries=written,
        )
