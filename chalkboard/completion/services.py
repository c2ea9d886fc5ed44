"""The transitions that end a session and pay its teacher: complete, amend a completed one, no-show.

Each runs in one transaction that locks the session row and re-checks its state under the lock, so two
concurrent completions cannot both succeed; the ledger's one-entry-per-session constraint is the backstop.
Each records its activity line and its events (``session.completed`` / ``session.updated`` and
``earnings.updated``) in the same transaction: a rolled-back write leaves neither. An amendment that changes
nothing writes nothing at all. Pay a teacher claims beyond the school's bounds is held for the school's review
(see ``chalkboard.earnings.services``); pay the school's owners and admins write themselves is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db import transaction
from django.utils import timezone

from chalkboard.activity.services import activity_record
from chalkboard.common.errors import Conflict, Forbidden, ValidationFailed
from chalkboard.earnings.models import EarningEntry, EarningKind
from chalkboard.earnings.services import (
    earning_record_for_session,
    earning_session_amend,
    earnings_events,
    session_rates,
)
from chalkboard.realtime.models import EventType
from chalkboard.realtime.services import EventDraft, events_emit
from chalkboard.scheduling.models import Attendance, Session, SessionNote, SessionStatus, SessionStudent
from chalkboard.scheduling.selectors import BOOKED, booked_students, note_visibilities_for, session_managed_in
from chalkboard.scheduling.serializers import session_payload
from chalkboard.schools.access import Viewer

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


def _lock(viewer: Viewer, session_id: int) -> tuple[Session, list[SessionStudent]]:
    """The session, if the viewer may manage it (``session_managed_in``: 404, then 403), locked until the
    transaction ends and read with what the ledger and the answer need (its school, subject, teacher and
    hourly rates), then its seats with their students: two queries."""
    locked = session_managed_in(
        Session.objects.select_for_update(of=("self",))
        .select_related("school", "subject", "teacher__user")
        .annotate(**session_rates()),
        viewer=viewer,
        session_id=session_id,
    )
    return locked, list(booked_students().filter(session=locked))


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
        SessionNote.objects.bulk_create(
            [
                SessionNote(session=session, author=viewer.user, visibility=note.visibility, text=note.text)
                for note in notes
            ]
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


def _entries_of(session: Session) -> list[EarningEntry]:
    return list(EarningEntry.objects.filter(session=session).order_by("id"))


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
        SessionStudent.objects.bulk_update(_attendance_changes(seats, attendance), ["attendance"])
        locked.status, locked.completed_at, locked.completed_by = SessionStatus.COMPLETED, now, viewer.user
        locked.actual_duration_minutes = actual_duration_minutes
        locked.version += 1
        locked.save(
            update_fields=["status", "completed_at", "completed_by", "actual_duration_minutes", "version", "updated_at"]
        )
        _add_notes(locked, viewer, notes)
        entry = earning_record_for_session(
            session=locked,
            kind=EarningKind.SESSION,
            minutes=actual_duration_minutes,
            by_staff=viewer.is_staff_of(locked.school_id),
            students=len(seats),
        )
        # A session is completed once: its entry is its only one.
        return _finish(
            viewer=viewer,
            session=locked,
            seats=seats,
            verb="session.completed",
            event=EventType.SESSION_COMPLETED,
            written=[entry],
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
        SessionStudent.objects.bulk_update(changed, ["attendance"])
        locked.actual_duration_minutes = minutes
        locked.version += 1
        locked.save(update_fields=["actual_duration_minutes", "version", "updated_at"])
        _add_notes(locked, viewer, notes)
        written = earning_session_amend(
            session=locked,
            minutes=minutes,
            previous_minutes=previous_minutes,
            by_staff=viewer.is_staff_of(locked.school_id),
        )
        return _finish(
            viewer=viewer,
            session=locked,
            seats=seats,
            verb="session.amended",
            event=EventType.SESSION_UPDATED,
            written=written,
            entries=_entries_of(locked),
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
        SessionStudent.objects.bulk_update(seats, ["attendance"])
        locked.status, locked.completed_at, locked.completed_by = SessionStatus.NO_SHOW, now, viewer.user
        locked.version += 1
        locked.save(update_fields=["status", "completed_at", "completed_by", "version", "updated_at"])
        _add_notes(locked, viewer, notes)
        written: list[EarningEntry] = []
        if locked.school.no_show_billable:
            written.append(
                earning_record_for_session(
                    session=locked,
                    kind=EarningKind.NO_SHOW,
                    minutes=locked.planned_duration_minutes,
                    by_staff=viewer.is_staff_of(locked.school_id),
                    students=len(seats),
                )
            )
        return _finish(
            viewer=viewer,
            session=locked,
            seats=seats,
            verb="session.no_show",
            event=EventType.SESSION_UPDATED,
            written=written,
            entries=written,
        )
