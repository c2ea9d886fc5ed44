"""Input and output shapes of the sessions API.

Output is built as plain dicts (``session_payload``), because the session list is on a hot path; the
``*Output`` serializers describe the same shapes for the schema, and the tests hold the two together.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from rest_framework import serializers

from chalkboard.common.api import AwareDateTimeField, IdField, NamedOutput
from chalkboard.scheduling.models import (
    MAX_SESSION_MINUTES,
    Attendance,
    NoteVisibility,
    Session,
    SessionNote,
    SessionStatus,
)

MAX_STUDENTS_PER_SESSION = 50
MAX_VERSION = 2**31 - 1


class StudentIdsField(serializers.ListField):
    """One to fifty distinct student ids."""

    default_error_messages = {"duplicate": "Each student may be listed only once."}

    def __init__(self, **kwargs: Any):
        super().__init__(child=IdField(), min_length=1, max_length=MAX_STUDENTS_PER_SESSION, **kwargs)

    def to_internal_value(self, data: Any) -> list[int]:
        ids: list[int] = super().to_internal_value(data)
        if len(set(ids)) != len(ids):
            self.fail("duplicate")
        return ids


class SessionCreateInput(serializers.Serializer):
    school_id = IdField()
    teacher_id = IdField()
    subject_id = IdField()
    student_ids = StudentIdsField()
    starts_at = AwareDateTimeField(bounded=True, strip=True)
    planned_duration_minutes = serializers.IntegerField(min_value=1, max_value=MAX_SESSION_MINUTES)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class SessionUpdateInput(serializers.Serializer):
    """Every field is optional; what is left out stays as it is."""

    starts_at = AwareDateTimeField(bounded=True, strip=True, required=False)
    planned_duration_minutes = serializers.IntegerField(min_value=1, max_value=MAX_SESSION_MINUTES, required=False)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True)
    subject_id = IdField(required=False)
    student_ids = StudentIdsField(required=False)
    teacher_id = IdField(required=False, help_text="Give the session to another teacher (owners and admins only).")
    version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VERSION,
        required=False,
        help_text="The version you read; the change is refused with 409 if the session has changed since.",
    )


class SessionCancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SessionStudentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    attendance = serializers.ChoiceField(
        choices=Attendance.choices, allow_null=True, help_text="Recorded when the session is completed."
    )


class SessionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    school_id = serializers.IntegerField()
    teacher = NamedOutput()
    subject = NamedOutput()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(help_text="starts_at plus the planned duration.")
    planned_duration_minutes = serializers.IntegerField()
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    location = serializers.CharField(allow_blank=True)
    students = SessionStudentOutput(many=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    actual_duration_minutes = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(help_text="Bumped on every change; send it back to detect concurrent edits.")


class SessionNoteOutput(serializers.Serializer):
    id = serializers.IntegerField()
    visibility = serializers.ChoiceField(choices=NoteVisibility.choices)
    text = serializers.CharField()
    author = NamedOutput()
    created_at = serializers.DateTimeField()


class SessionDetailOutput(SessionOutput):
    notes = SessionNoteOutput(many=True, help_text="Only the notes the caller may read.")


def iso(value: datetime | None) -> str | None:
    """As DRF writes date-times: ISO 8601 in UTC, with ``Z``."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def session_shape(
    *,
    session_id: int,
    school_id: int,
    teacher: dict[str, Any],
    subject: dict[str, Any],
    starts_at: datetime,
    planned_duration_minutes: int,
    status: str,
    location: str,
    students: list[dict[str, Any]],
    completed_at: datetime | None,
    actual_duration_minutes: int | None,
    version: int,
) -> dict[str, Any]:
    """A session as the API shows it, from its values (model instances or rows)."""
    return {
        "id": session_id,
        "school_id": school_id,
        "teacher": teacher,
        "subject": subject,
        "starts_at": iso(starts_at),
        "ends_at": iso(starts_at + timedelta(minutes=planned_duration_minutes)),
        "planned_duration_minutes": planned_duration_minutes,
        "status": status,
        "location": location,
        "students": students,
        "completed_at": iso(completed_at),
        "actual_duration_minutes": actual_duration_minutes,
        "version": version,
    }


def session_payload(session: Session) -> dict[str, Any]:
    """A session as the API shows it. Expects ``session_list``'s related objects to be loaded (``booked``)."""
    return session_shape(
        session_id=session.pk,
        school_id=session.school_id,
        teacher={"id": session.teacher_id, "name": session.teacher.user.full_name},
        subject={"id": session.subject_id, "name": session.subject.name},
        starts_at=session.starts_at,
        planned_duration_minutes=session.planned_duration_minutes,
        status=session.status,
        location=session.location,
        students=[
            {"id": booked.student_id, "name": booked.student.user.full_name, "attendance": booked.attendance or None}
            for booked in session.booked  # type: ignore[attr-defined]
        ],
        completed_at=session.completed_at,
        actual_duration_minutes=session.actual_duration_minutes,
        version=session.version,
    )


def session_detail_payload(session: Session, *, notes: Iterable[SessionNote]) -> dict[str, Any]:
    """The session with the notes the caller may read (from ``session_notes``)."""
    return {
        **session_payload(session),
        "notes": [
            {
                "id": note.pk,
                "visibility": note.visibility,
                "text": note.text,
                "author": {"id": note.author_id, "name": note.author.full_name},
                "created_at": iso(note.created_at),
            }
            for note in notes
        ],
    }
