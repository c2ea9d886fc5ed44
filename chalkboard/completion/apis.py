"""Completing, amending and marking no-show: ``/api/sessions/{id}/complete/`` and ``/no-show/``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chalkboard.common.api import NOT_AUTHENTICATED, NOT_FOUND, IdField, NamedOutput, error_response
from chalkboard.common.decimals import decimal_too_large_message
from chalkboard.common.errors import ValidationFailed
from chalkboard.common.idempotency import IDEMPOTENCY_KEY_PARAMETER, KEY_REUSED, idempotent
from chalkboard.completion import services as completion
from chalkboard.completion.services import AttendanceMark, NoteDraft, SessionOutcome
from chalkboard.earnings.models import EarningEntry, EarningStatus
from chalkboard.earnings.services import AMEND_WINDOW_CLOSED, NO_RATE
from chalkboard.scheduling.models import MAX_SESSION_MINUTES, Attendance, NoteVisibility
from chalkboard.scheduling.selectors import SESSION_MANAGE_FORBIDDEN, session_ref_for_manager
from chalkboard.schools.access import Viewer, viewer_of

MAX_ATTENDEES = 200
MAX_NOTES = 20
MAX_NOTE_LENGTH = 10_000
NOTHING_TO_AMEND = "Give at least one of attendance, actual_duration_minutes or notes."


class AttendanceInput(serializers.Serializer):
    student_id = IdField()
    status = serializers.ChoiceField(choices=Attendance.choices)


class NoteInput(serializers.Serializer):
    visibility = serializers.ChoiceField(
        choices=NoteVisibility.choices, help_text="`admin` notes may be written by the school's owners and admins only."
    )
    text = serializers.CharField(min_length=1, max_length=MAX_NOTE_LENGTH)


class CompleteInput(serializers.Serializer):
    attendance = serializers.ListField(
        child=AttendanceInput(),
        allow_empty=False,
        max_length=MAX_ATTENDEES,
        help_text="Every student of the session, once.",
    )
    actual_duration_minutes = serializers.IntegerField(min_value=1, max_value=MAX_SESSION_MINUTES)
    notes = serializers.ListField(child=NoteInput(), required=False, max_length=MAX_NOTES)


class AmendInput(serializers.Serializer):
    attendance = serializers.ListField(
        child=AttendanceInput(),
        required=False,
        allow_empty=False,
        max_length=MAX_ATTENDEES,
        help_text="When given, every student of the session, once.",
    )
    actual_duration_minutes = serializers.IntegerField(min_value=1, max_value=MAX_SESSION_MINUTES, required=False)
    notes = serializers.ListField(
        child=NoteInput(), required=False, max_length=MAX_NOTES, help_text="Added to the session's notes."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise ValidationFailed(NOTHING_TO_AMEND)
        return attrs


class NoShowInput(serializers.Serializer):
    notes = serializers.ListField(child=NoteInput(), required=False, max_length=MAX_NOTES)


class SeatOutput(NamedOutput):
    attendance = serializers.ChoiceField(choices=Attendance.choices, allow_null=True)


HOLD_REASON_HELP = "Why the entry is (or was) held for the school's review; empty when it never was."


class AdjustmentBriefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    status = serializers.ChoiceField(choices=EarningStatus.choices)
    hold_reason = serializers.CharField(help_text=HOLD_REASON_HELP)


class EarningBriefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=EarningStatus.choices)
    kind = serializers.CharField()
    hold_reason = serializers.CharField(help_text=HOLD_REASON_HELP)
    adjustments = AdjustmentBriefOutput(many=True, help_text="Corrections added after the entry was approved.")


class SessionOutcomeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    school_id = serializers.IntegerField()
    teacher = NamedOutput()
    subject = NamedOutput()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    planned_duration_minutes = serializers.IntegerField()
    status = serializers.CharField()
    location = serializers.CharField()
    students = SeatOutput(many=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    actual_duration_minutes = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField()
    earning = EarningBriefOutput(allow_null=True, help_text="The session's own ledger entry, if any.")


OUTCOME_EXAMPLE = {
    "id": 42,
    "school_id": 1,
    "teacher": {"id": 7, "name": "Ana Costa"},
    "subject": {"id": 3, "name": "Mathematics"},
    "starts_at": "2025-03-31T17:30:00Z",
    "ends_at": "2025-03-31T18:30:00Z",
    "planned_duration_minutes": 60,
    "status": "completed",
    "location": "Room 2",
    "students": [{"id": 11, "name": "Rui Lopes", "attendance": "present"}],
    "completed_at": "2025-03-31T18:35:02Z",
    "actual_duration_minutes": 47,
    "version": 2,
    "earning": {
        "id": 90,
        "amount": "29.38",
        "currency": "EUR",
        "status": "pending",
        "kind": "session",
        "hold_reason": "",
        "adjustments": [],
    },
}

FORBIDDEN = error_response(
    403,
    "The session is visible but the caller may not do this.",
    ("Not the session's teacher", "forbidden", SESSION_MANAGE_FORBIDDEN, None),
    ("Admin note by a teacher", "note_level_forbidden", completion.NOTE_LEVEL_FORBIDDEN, None),
)
ATTENDANCE_INVALID = (
    "Attendance incomplete",
    "invalid",
    completion.ATTENDANCE_MISMATCH,
    {"attendance": [completion.ATTENDANCE_MISMATCH]},
)
AMOUNT_INVALID = (
    "Amount too large",
    "amount_too_large",
    decimal_too_large_message(model=EarningEntry, name="amount", what="An earning entry's amount"),
    None,
)
KEY_REUSED_EXAMPLE = ("Key reused", "idempotency_key_reused", KEY_REUSED, None)
REPLAYED = OpenApiResponse(
    SessionOutcomeOutput,
    description="The session after the transition. A repeat with the same `Idempotency-Key` replays the first "
    "answer with the header `Idempotent-Replayed: true`.",
    examples=[OpenApiExample("Completed", value=OUTCOME_EXAMPLE, response_only=True)],
)


def _notes(data: dict[str, Any]) -> list[NoteDraft]:
    return [NoteDraft(visibility=note["visibility"], text=note["text"]) for note in data.get("notes", [])]


def _attendance(data: dict[str, Any]) -> list[AttendanceMark] | None:
    if "attendance" not in data:
        return None
    return [AttendanceMark(student_id=mark["student_id"], status=mark["status"]) for mark in data["attendance"]]


def _valid(data: serializers.Serializer, *, viewer: Viewer, session_id: int) -> serializers.Serializer:
    """The request's input, once valid. Invalid input is a 400 only for a session the viewer may manage: the
    404 or 403 comes first. (Valid input goes on to the service, which checks the viewer on the locked row.)"""
    if not data.is_valid():
        session_ref_for_manager(viewer=viewer, session_id=session_id)
        raise serializers.ValidationError(data.errors)
    return data


def _answer(outcome: SessionOutcome) -> Response:
    return Response(outcome.body)


class SessionCompleteApi(APIView):
    """Complete a session (POST) or amend a completed one (PUT)."""

    @extend_schema(
        summary="Complete a session",
        description=(
            "Records attendance for every student, the actual duration and notes; the session becomes `completed` "
            "and its teacher earns one ledger entry (hourly rate times actual minutes, to the cent). A teacher's "
            "entry beyond the school's bounds (completed more than `late_claim_days` after the start, or more than "
            "`overrun_minutes` over the plan) is `held` for the school's review, with its `hold_reason`. "
            "Completing twice answers 409, unless the repeat carries the same `Idempotency-Key`: then it replays "
            "the first answer."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=CompleteInput,
        responses={
            200: REPLAYED,
            400: error_response(
                400,
                "Invalid input.",
                ATTENDANCE_INVALID,
                (
                    "Duration out of range",
                    "invalid",
                    "Some fields are invalid.",
                    {"actual_duration_minutes": ["Ensure this value is less than or equal to 720."]},
                ),
                AMOUNT_INVALID,
            ),
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: error_response(
                409,
                "The session cannot be completed now.",
                ("Not started", "session_not_started", completion.NOT_STARTED, None),
                ("Already completed", "session_completed", completion.FINAL_STATE["completed"][0], None),
                ("Cancelled", "session_cancelled", completion.FINAL_STATE["cancelled"][0], None),
                ("No rate", "no_rate", NO_RATE, None),
                KEY_REUSED_EXAMPLE,
            ),
        },
        examples=[
            OpenApiExample(
                "Complete",
                value={
                    "attendance": [{"student_id": 11, "status": "present"}],
                    "actual_duration_minutes": 47,
                    "notes": [{"visibility": "shared", "text": "Fractions: practise exercises 3 to 7."}],
                },
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request: Request, session_id: int) -> Response:
        viewer = viewer_of(request)
        data = _valid(CompleteInput(data=request.data), viewer=viewer, session_id=session_id)
        outcome = completion.session_complete(
            viewer=viewer,
            session_id=session_id,
            attendance=_attendance(data.validated_data) or [],
            actual_duration_minutes=data.validated_data["actual_duration_minutes"],
            notes=_notes(data.validated_data),
        )
        return _answer(outcome)

    @extend_schema(
        summary="Amend a completed session",
        description=(
            "Corrects attendance (complete, when given), the actual duration, and adds notes. A pending or held "
            "earning is recomputed in place; an approved or paid one is never rewritten: the difference becomes a "
            "new adjustment entry. An increase a teacher claims beyond the school's bounds is `held` for review. "
            "A session first paid more than the school's `paid_amend_days` ago is closed: 409. Sending exactly "
            "what the session already says changes nothing (same version, no entry, no event) and answers 200."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=AmendInput,
        responses={
            200: REPLAYED,
            400: error_response(
                400,
                "Invalid input.",
                ATTENDANCE_INVALID,
                ("Nothing to amend", "invalid", NOTHING_TO_AMEND, None),
                AMOUNT_INVALID,
            ),
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: error_response(
                409,
                "The session is not completed.",
                ("Not completed", "session_not_completed", completion.NOT_COMPLETED, None),
                ("Paid too long ago", "amend_window_closed", AMEND_WINDOW_CLOSED.format(days=30), None),
                KEY_REUSED_EXAMPLE,
            ),
        },
        examples=[OpenApiExample("Longer than recorded", value={"actual_duration_minutes": 60}, request_only=True)],
    )
    @idempotent
    def put(self, request: Request, session_id: int) -> Response:
        viewer = viewer_of(request)
        data = _valid(AmendInput(data=request.data), viewer=viewer, session_id=session_id)
        outcome = completion.session_amend(
            viewer=viewer,
            session_id=session_id,
            attendance=_attendance(data.validated_data),
            actual_duration_minutes=data.validated_data.get("actual_duration_minutes"),
            notes=_notes(data.validated_data),
        )
        return _answer(outcome)


class SessionNoShowApi(APIView):
    """Mark a session a no-show."""

    @extend_schema(
        summary="Mark a session a no-show",
        description=(
            "For a started, scheduled session nobody attended: every student is marked `absent` and the session "
            "becomes `no_show`. When the school pays no-shows, the teacher earns one `no_show` entry for the "
            "planned duration."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=NoShowInput,
        responses={
            200: REPLAYED,
            400: error_response(
                400,
                "Invalid input.",
                (
                    "Empty note",
                    "invalid",
                    "Some fields are invalid.",
                    {"notes": [{"text": ["This field may not be blank."]}]},
                ),
            ),
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: error_response(
                409,
                "The session has not started, or is already final.",
                ("Not started", "session_not_started", completion.NOT_STARTED, None),
                ("Already completed", "session_completed", completion.FINAL_STATE["completed"][0], None),
                KEY_REUSED_EXAMPLE,
            ),
        },
    )
    @idempotent
    def post(self, request: Request, session_id: int) -> Response:
        viewer = viewer_of(request)
        data = _valid(NoShowInput(data=request.data), viewer=viewer, session_id=session_id)
        outcome = completion.session_no_show(viewer=viewer, session_id=session_id, notes=_notes(data.validated_data))
        return _answer(outcome)
