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
from chalkboard.earnings.services import earning_record_for_session, earning_session_amend, earnings_changed
from chalkboard.realtime.models import EventType
from chalkboard.realtime.services import event_emit
from chalkboard.scheduling.models import Attendance, Session, SessionNote, SessionStatus, SessionStudent
from chalkboard.scheduling.selectors import note_visibilities_for, session_get_for_viewer
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


def _lock(session: Session) -> Session:
    """The session row, locked until the transaction ends, re-read with what the ledger needs."""
    return Session.objects.select_for_update(of=("self",)).select_related("school", "subject").get(pk=session.pk)


def _require_open_and_started(session: Session, now: datetime) -> None:
    final = FINAL_STATE.get(session.status)
    if final is not None:
        message, code = final
        raise Conflict(message, code=code)
    if session.starts_at > now:
        raise Conflict(NOT_STARTED, code="session_not_started")


def _attendance_changes(session: Session, marks: Sequence[AttendanceMark]) -> list[SessionStudent]:
    """The seats whose attendance ``marks`` change, set to it; ``marks`` must name every student once."""
    seats = list(session.attendees.order_by("id"))
    given = [mark.student_id for mark in marks]
    if len(given) != len(set(given)) or set(given) != {seat.student_id for seat in seats}:
        raise ValidationFailed(ATTENDANCE_MISMATCH, fields={"attendance": [ATTENDANCE_MISMATCH]})
    status_of = {mark.student_id: mark.status for mark in marks}
    changed = [seat for seat in seats if seat.attendance != status_of[seat.student_id]]
    for seat in changed:
        seat.attendance = status_of[seat.student_id]
    return changed


def _mark_attendance(session: Session, marks: Sequence[AttendanceMark]) -> None:
    SessionStudent.objects.bulk_update(_attendance_changes(session, marks), ["attendance"])


def _add_notes(session: Session, viewer: Viewer, notes: Sequence[NoteDraft]) -> None:
    SessionNote.objects.bulk_create(
        [SessionNote(session=session, author=viewer.user, visibility=note.visibility, text=note.text) for note in notes]
    )


def _finish(
    *, viewer: Viewer, session: Session, verb: str, event: EventType, written: Sequence[EarningEntry]
) -> SessionOutcome:
    """Activity, events and the answer of a transition, all inside its transaction."""
    fresh = session_get_for_viewer(viewer=viewer, session_id=session.pk)
    entries = list(EarningEntry.objects.filter(session=session).order_by("id"))
    item, earning = session_payload(fresh), earning_brief(entries)
    activity_record(
        actor=viewer.user,
        verb=verb,
        object_type="session",
        object_id=session.pk,
        school_id=session.school_id,
        teacher_id=session.teacher_id,
        data={
            "status": fresh.status,
            "actual_duration_minutes": fresh.actual_duration_minutes,
            "version": fresh.version,
            "earning_entry_ids": [entry.pk for entry in written],
        },
    )
    event_emit(
        type=event,
        school_id=session.school_id,
        teacher_id=session.teacher_id,
        data={"session": item, "earning": earning},
        student_ids=[student["id"] for student in item["students"]],
    )
    earnings_changed(school_id=session.school_id, entries=written)
    return SessionOutcome(session=fresh, body={**item, "earning": earning})


def _as_it_is(*, viewer: Viewer, session: Session) -> SessionOutcome:
    """The answer of a transition that changed nothing: the session and its earning as they are."""
    fresh = session_get_for_viewer(viewer=viewer, session_id=session.pk)
    entries = list(EarningEntry.objects.filter(session=session).order_by("id"))
    return SessionOutcome(session=fresh, body={**session_payload(fresh), "earning": earning_brief(entries)})


def session_complete(
    *,
    viewer: Viewer,
    session: Session,
    attendance: Sequence[AttendanceMark],
    actual_duration_minutes: int,
    notes: Sequence[NoteDraft] = (),
) -> SessionOutcome:
    """Complete a started, scheduled session: attendance, duration, notes, and its one earning entry."""
    _require_note_levels(viewer, session, notes)
    with transaction.atomic():
        now = timezone.now()
        locked = _lock(session)
        _require_open_and_started(locked, now)
        _mark_attendance(locked, attendance)
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
        )
        return _finish(
            viewer=viewer, session=locked, verb="session.completed", event=EventType.SESSION_COMPLETED, written=[entry]
        )


def session_amend(
    *,
    viewer: Viewer,
    session: Session,
    attendance: Sequence[AttendanceMark] | None = None,
    actual_duration_minutes: int | None = None,
    notes: Sequence[NoteDraft] = (),
) -> SessionOutcome:
    """Correct a completed session. Its earnings follow: see ``earning_session_amend`` (which also refuses a
    session paid longer ago than the school allows). Exactly what the session already says changes nothing:
    no version, no ledger entry, no activity, no event."""
    _require_note_levels(viewer, session, notes)
    with transaction.atomic():
        locked = _lock(session)
        if locked.status != SessionStatus.COMPLETED:
            raise Conflict(NOT_COMPLETED, code="session_not_completed")
        # A completed session always has a duration (session_completed_has_duration).
        previous_minutes = cast(int, locked.actual_duration_minutes)
        seats = _attendance_changes(locked, attendance) if attendance is not None else []
        minutes = previous_minutes if actual_duration_minutes is None else actual_duration_minutes
        if not (seats or notes or minutes != previous_minutes):
            return _as_it_is(viewer=viewer, session=locked)
        SessionStudent.objects.bulk_update(seats, ["attendance"])
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
            viewer=viewer, session=locked, verb="session.amended", event=EventType.SESSION_UPDATED, written=written
        )


def session_no_show(*, viewer: Viewer, session: Session, notes: Sequence[NoteDraft] = ()) -> SessionOutcome:
    """Nobody came to a started, scheduled session: everyone absent, and a no-show entry for the planned
    duration when the school pays no-shows."""
    _require_note_levels(viewer, session, notes)
    with transaction.atomic():
        now = timezone.now()
        locked = _lock(session)
        _require_open_and_started(locked, now)
        seats = list(locked.attendees.all())
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
                )
            )
        return _finish(
            viewer=viewer, session=locked, verb="session.no_show", event=EventType.SESSION_UPDATED, written=written
        )
