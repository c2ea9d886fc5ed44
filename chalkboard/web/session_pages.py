"""Completing a session from a page: attendance per student, the actual duration, notes at the levels the
person may write; or marking it a no-show, or cancelling it. The same services as the API do the work and
the checking (``session_complete``, ``session_no_show``, ``session_cancel``); the page only reads the form.

A form sent twice (a double click, a reload) completes once: the second finds the session no longer open,
and the person is sent on to the dashboard, where the session shows as it is.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from chalkboard.common.errors import Conflict
from chalkboard.completion import services as completion
from chalkboard.completion.apis import CompleteInput, NoteInput
from chalkboard.completion.services import AttendanceMark, NoteDraft
from chalkboard.scheduling.models import Attendance, NoteVisibility, Session, SessionStatus
from chalkboard.scheduling.selectors import note_visibilities_for, session_get_for_manager
from chalkboard.scheduling.services import session_cancel
from chalkboard.schools.access import Viewer, viewer_of
from chalkboard.web.pages import page, signed_in

NOTE_LEVELS = {
    NoteVisibility.SHARED: "Shared (the student and their guardians read it)",
    NoteVisibility.STAFF: "Staff (the school's staff and teachers)",
    NoteVisibility.ADMIN: "Admin (owners and admins only)",
}
ATTENDANCE_NAMES = {choice.value: choice.label.capitalize() for choice in Attendance}


def _dashboard_of(session: Session) -> str:
    url = reverse("web-teacher-dashboard", args=[session.teacher_id])
    return f"{url}?school={session.school_id}"


@require_http_methods(["GET", "POST"])
@signed_in
def session_complete(request: HttpRequest, session_id: int) -> HttpResponseBase:
    viewer = viewer_of(request)
    session = session_get_for_manager(viewer=viewer, session_id=session_id)
    if request.method == "GET" or session.status != SessionStatus.SCHEDULED:
        if request.method == "POST":  # sent again after it went through: it is done
            return redirect(_dashboard_of(session))
        return _form(request, viewer, session, errors={}, status=200)
    action = request.POST.get("action", "")
    try:
        errors = _act(request, viewer, session, action)
    except Conflict as conflict:
        errors = {"form": [conflict.message]}
    if errors:
        return _form(request, viewer, session, errors=errors, status=400)
    return redirect(_dashboard_of(session))


def _act(request: HttpRequest, viewer: Viewer, session: Session, action: str) -> dict[str, list[str]]:
    """Do what the form asks; the errors to show by field when the input is wrong."""
    notes, errors = _notes(request, viewer, session)
    if action == "cancel":
        session_cancel(viewer=viewer, session=session, reason=request.POST.get("reason", "").strip()[:500])
        return {}
    if errors:
        return errors
    if action == "no_show":
        completion.session_no_show(viewer=viewer, session_id=session.pk, notes=notes)
        return {}
    if action != "complete":
        return {"form": ["Choose to complete the session, mark it a no-show, or cancel it."]}
    seats = list(session.attendees.all())
    data = {
        "attendance": [
            {"student_id": seat.student_id, "status": request.POST.get(f"attendance-{seat.student_id}", "")}
            for seat in seats
        ],
        "actual_duration_minutes": request.POST.get("actual_duration_minutes", ""),
    }
    parsed = CompleteInput(data=data)
    if not parsed.is_valid():
        return _field_errors(parsed.errors, seats)
    completion.session_complete(
        viewer=viewer,
        session_id=session.pk,
        attendance=[AttendanceMark(**mark) for mark in parsed.validated_data["attendance"]],
        actual_duration_minutes=parsed.validated_data["actual_duration_minutes"],
        notes=notes,
    )
    return {}


def _notes(request: HttpRequest, viewer: Viewer, session: Session) -> tuple[list[NoteDraft], dict[str, list[str]]]:
    text = request.POST.get("note_text", "").strip()
    if not text:
        return [], {}
    parsed = NoteInput(data={"visibility": request.POST.get("note_visibility", ""), "text": text})
    if not parsed.is_valid():
        return [], {f"note_{name}": [str(message) for message in messages] for name, messages in parsed.errors.items()}
    if parsed.validated_data["visibility"] not in note_visibilities_for(viewer=viewer, session=session):
        return [], {"note_visibility": ["You may not write notes at this level."]}
    return [NoteDraft(**parsed.validated_data)], {}


def _field_errors(errors: Any, seats: list[Any]) -> dict[str, list[str]]:
    """The serializer's errors, keyed as the form's fields are named."""
    shown: dict[str, list[str]] = {}
    marks = errors.get("attendance", {})
    for index in marks if isinstance(marks, dict) else ():  # by the index of the mark at fault
        shown[f"attendance-{seats[int(index)].student_id}"] = ["Choose how the student attended."]
    if "actual_duration_minutes" in errors:
        shown["actual_duration_minutes"] = [str(message) for message in errors["actual_duration_minutes"]]
    return shown or {"form": ["The session could not be completed as sent."]}


def _form(
    request: HttpRequest, viewer: Viewer, session: Session, *, errors: dict[str, list[str]], status: int
) -> HttpResponseBase:
    seats = list(session.attendees.select_related("student__user").order_by("student__user__full_name"))
    chosen = {seat.student_id: request.POST.get(f"attendance-{seat.student_id}", "") for seat in seats}
    context = {
        "session": session,
        "open": session.status == SessionStatus.SCHEDULED,
        "seats": [
            {
                "id": seat.student_id,
                "name": seat.student.user.full_name,
                "chosen": chosen[seat.student_id] or seat.attendance or "",
                "errors": errors.get(f"attendance-{seat.student_id}", []),
            }
            for seat in seats
        ],
        "attendance_choices": ATTENDANCE_NAMES,
        "note_levels": {
            level: NOTE_LEVELS[NoteVisibility(level)] for level in note_visibilities_for(viewer=viewer, session=session)
        },
        "errors": errors,
        "values": request.POST,
        "dashboard_url": _dashboard_of(session),
        "zone": session.school.timezone,
    }
    return page(request, "web/session_complete.html", context, status=status)
