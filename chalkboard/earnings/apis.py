"""The earnings API: a teacher's earnings by period (JSON or CSV), the ledger's entries, approvals, payouts."""

from __future__ import annotations

from datetime import date
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chalkboard.common.api import NOT_AUTHENTICATED, NOT_FOUND, IdField, IdListField, NamedOutput, error_response
from chalkboard.common.idempotency import IDEMPOTENCY_KEY_PARAMETER, KEY_REUSED, idempotent
from chalkboard.earnings import selectors, services
from chalkboard.earnings.exports import CSVRenderer, earnings_csv_rows
from chalkboard.earnings.models import EarningEntry, EarningKind, EarningStatus, Payout, ReviewDecision
from chalkboard.earnings.selectors import GroupBy
from chalkboard.schools.access import viewer_of

MAX_ENTRIES_PER_REQUEST = 500


def _within_bounds(value: date) -> None:
    if not selectors.EARLIEST_DATE <= value <= selectors.LATEST_DATE:
        raise serializers.ValidationError(selectors.DATE_OUT_OF_BOUNDS)


class DateRangeQuery(serializers.Serializer):
    """``from`` and ``to`` are Python keywords, hence added in ``get_fields``."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False, validators=[_within_bounds], help_text="First day, inclusive (YYYY-MM-DD)."
        )
        fields["to"] = serializers.DateField(
            required=False, validators=[_within_bounds], help_text="Last day, inclusive (YYYY-MM-DD)."
        )
        return fields


class EarningsQuery(DateRangeQuery):
    school = IdField(
        required=False,
        help_text="The school, for a teacher in several; by default the first (lowest id) the caller may see.",
    )
    group_by = serializers.ChoiceField(choices=[choice.value for choice in GroupBy], default=GroupBy.MONTH.value)


class EntryQuery(DateRangeQuery):
    school = IdField(required=False, help_text="Only this school's entries; `from`/`to` are then in its time zone.")
    teacher = IdField(required=False)
    session = IdField(required=False)
    status = serializers.ChoiceField(choices=EarningStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=EarningKind.choices, required=False)


class PayoutQuery(serializers.Serializer):
    school = IdField(required=False)
    teacher = IdField(required=False)


class ApproveInput(serializers.Serializer):
    school_id = IdField()
    entry_ids = IdListField(allow_empty=False, max_length=MAX_ENTRIES_PER_REQUEST)


class ReviewInput(serializers.Serializer):
    school_id = IdField()
    entry_ids = IdListField(allow_empty=False, max_length=MAX_ENTRIES_PER_REQUEST)
    decision = serializers.ChoiceField(
        choices=ReviewDecision.choices,
        help_text="`release`: the entries become `pending` (then approved and paid as usual); `reject`: they "
        "become `rejected`, never paid and counted nowhere.",
    )
    reason = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", help_text="Kept in the activity log."
    )


class PayoutInput(serializers.Serializer):
    school_id = IdField()
    teacher_id = IdField()
    entry_ids = IdListField(allow_empty=False, max_length=MAX_ENTRIES_PER_REQUEST)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


# --- Output (documentation of the hand-built dicts below) --------------------------------------------------


class SchoolBriefOutput(NamedOutput):
    timezone = serializers.CharField()
    currency = serializers.CharField()


class TallyOutput(serializers.Serializer):
    earned = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Pending, approved and paid entries, adjustments included."
    )
    pending = serializers.DecimalField(max_digits=14, decimal_places=2)
    approved = serializers.DecimalField(max_digits=14, decimal_places=2)
    paid = serializers.DecimalField(max_digits=14, decimal_places=2)
    held = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Held for the school's review: in no other figure."
    )
    sessions = serializers.IntegerField(help_text="Distinct sessions with an earned entry of their own.")
    hours = serializers.DecimalField(max_digits=10, decimal_places=2, help_text="Minutes earned, in hours.")


class PeriodOutput(TallyOutput):
    start = serializers.DateField(help_text="First day of the period, in the school's time zone.")


class AwaitingReviewOutput(serializers.Serializer):
    entries = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class EarningsOutput(serializers.Serializer):
    teacher = NamedOutput()
    school = SchoolBriefOutput()
    currency = serializers.CharField()
    group_by = serializers.ChoiceField(choices=[choice.value for choice in GroupBy])
    totals = TallyOutput()
    periods = PeriodOutput(many=True, help_text="Every period of the range, oldest first, empty ones included.")
    awaiting_review = AwaitingReviewOutput(help_text="The teacher's entries held for review, whatever their date.")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField()
        fields["to"] = serializers.DateField()
        return fields


class EarningEntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    school_id = serializers.IntegerField()
    teacher = NamedOutput()
    session_id = serializers.IntegerField(allow_null=True)
    kind = serializers.ChoiceField(choices=EarningKind.choices)
    status = serializers.ChoiceField(choices=EarningStatus.choices)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    minutes = serializers.IntegerField()
    hourly_rate = serializers.DecimalField(max_digits=10, decimal_places=2)
    earned_at = serializers.DateTimeField()
    description = serializers.CharField()
    hold_reason = serializers.CharField(help_text="Why the entry is (or was) held for review; empty if never.")
    approved_at = serializers.DateTimeField(allow_null=True)
    payout_id = serializers.IntegerField(allow_null=True)
    adjusts_id = serializers.IntegerField(allow_null=True)


class ApproveOutput(serializers.Serializer):
    approved = EarningEntryOutput(many=True)


class ReviewOutput(serializers.Serializer):
    entries = EarningEntryOutput(many=True, help_text="The entries decided, with their new status.")


class PayoutOutput(serializers.Serializer):
    id = serializers.IntegerField()
    school_id = serializers.IntegerField()
    teacher = NamedOutput()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    paid_at = serializers.DateTimeField()
    reference = serializers.CharField()
    entry_ids = serializers.ListField(child=serializers.IntegerField())


_DATETIME = serializers.DateTimeField()


def entry_item(entry: EarningEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "school_id": entry.school_id,
        "teacher": {"id": entry.teacher_id, "name": entry.teacher.user.full_name},
        "session_id": entry.session_id,
        "kind": entry.kind,
        "status": entry.status,
        "amount": f"{entry.amount:.2f}",
        "currency": entry.currency,
        "minutes": entry.minutes,
        "hourly_rate": f"{entry.hourly_rate:.2f}",
        "earned_at": _DATETIME.to_representation(entry.earned_at),
        "description": entry.description,
        "hold_reason": entry.hold_reason,
        "approved_at": _DATETIME.to_representation(entry.approved_at) if entry.approved_at else None,
        "payout_id": entry.payout_id,
        "adjusts_id": entry.adjusts_id,
    }


def payout_item(payout: Payout) -> dict[str, Any]:
    return {
        "id": payout.pk,
        "school_id": payout.school_id,
        "teacher": {"id": payout.teacher_id, "name": payout.teacher.user.full_name},
        "amount": f"{payout.amount:.2f}",
        "currency": payout.currency,
        "paid_at": _DATETIME.to_representation(payout.paid_at),
        "reference": payout.reference,
        "entry_ids": [entry.pk for entry in payout.entries.all()],
    }


SUMMARY_EXAMPLE = {
    "teacher": {"id": 7, "name": "Ana Costa"},
    "school": {"id": 1, "name": "Lisbon Tutors", "timezone": "Europe/Lisbon", "currency": "EUR"},
    "currency": "EUR",
    "from": "2025-03-01",
    "to": "2025-04-30",
    "group_by": "month",
    "totals": {
        "earned": "71.88",
        "pending": "29.38",
        "approved": "42.50",
        "paid": "0.00",
        "held": "0.00",
        "sessions": 2,
        "hours": "1.57",
    },
    "periods": [
        {
            "start": "2025-03-01",
            "earned": "29.38",
            "pending": "29.38",
            "approved": "0.00",
            "paid": "0.00",
            "held": "0.00",
            "sessions": 1,
            "hours": "0.78",
        },
        {
            "start": "2025-04-01",
            "earned": "42.50",
            "pending": "0.00",
            "approved": "42.50",
            "paid": "0.00",
            "held": "0.00",
            "sessions": 1,
            "hours": "0.78",
        },
    ],
    "awaiting_review": {"entries": 0, "amount": "0.00"},
}
CSV_EXAMPLE = (
    "id,earned_at,session_id,kind,status,minutes,hourly_rate,amount,currency,description\r\n"
    "90,2025-03-31T18:30:00+01:00,42,session,pending,47,37.50,29.38,EUR,"
    '"Session: Mathematics, 2025-03-31 18:30 Europe/Lisbon"\r\n'
)
RANGE_INVALID = error_response(
    400,
    "Invalid query parameters.",
    ("Reversed range", "invalid", selectors.RANGE_REVERSED, {"from": [selectors.RANGE_REVERSED]}),
    (
        "Range too long",
        "invalid",
        selectors.RANGE_TOO_LONG,
        {"from": [selectors.RANGE_TOO_LONG], "to": [selectors.RANGE_TOO_LONG]},
    ),
)


def _entries_refused(description: str, name: str, message: str) -> OpenApiResponse:
    """The 400 of a request naming entries it may not act on: the message stands under ``entry_ids`` too."""
    return error_response(400, description, (name, "invalid", message, {"entry_ids": [message]}))


MANAGE_FORBIDDEN = error_response(
    403,
    "A member of the school who does not run it.",
    ("Not staff", "forbidden", "You may not do this.", None),
)


class TeacherEarningsApi(APIView):
    """A teacher's earnings in one school, totals and per period; or the entries as CSV."""

    renderer_classes = [JSONRenderer, CSVRenderer]

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        # Errors are always JSON, in the one error shape, even when CSV was asked for.
        if getattr(response, "exception", False) and isinstance(
            getattr(request, "accepted_renderer", None), CSVRenderer
        ):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        summary="A teacher's earnings",
        description=(
            "Totals and one row per period (day, week starting Monday, or month) of the range, computed in the "
            "school's time zone. Money is a decimal string in the school's `currency`. The teacher reads their "
            "own; the school's owners and admins read everyone's. `Accept: text/csv` or `?format=csv` exports "
            "the entries of the range instead, one line each."
        ),
        parameters=[
            EarningsQuery,
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "csv"],
                description="`csv` exports the entries (same as `Accept: text/csv`).",
            ),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                EarningsOutput, examples=[OpenApiExample("Two months", value=SUMMARY_EXAMPLE, response_only=True)]
            ),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="One line per entry, with a header; sent as an attachment.",
                examples=[OpenApiExample("Entries", value=CSV_EXAMPLE, response_only=True, media_type="text/csv")],
            ),
            400: RANGE_INVALID,
            401: NOT_AUTHENTICATED,
            404: NOT_FOUND,
        },
    )
    def get(self, request: Request, teacher_id: int) -> Response:
        query = EarningsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        viewer = viewer_of(request)
        teacher, school = selectors.earnings_scope_for(
            viewer=viewer, teacher_id=teacher_id, school_id=params.get("school")
        )
        date_from, date_to = selectors.earnings_range(
            school=school, date_from=params.get("from"), date_to=params.get("to")
        )
        if isinstance(request.accepted_renderer, CSVRenderer):
            entries = selectors.earning_entries_between(
                teacher=teacher, school=school, date_from=date_from, date_to=date_to
            )
            filename = f"earnings-{teacher.pk}-{school.pk}-{date_from}-{date_to}.csv"
            return Response(
                earnings_csv_rows(entries, zone=school.zone),
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        summary = selectors.earnings_summary(
            teacher=teacher, school=school, date_from=date_from, date_to=date_to, group_by=GroupBy(params["group_by"])
        )
        return Response(summary)


class EarningEntryListApi(generics.GenericAPIView):
    """The ledger's entries the caller may see: their schools' for owners and admins, their own for a teacher."""

    filter_backends: list[type] = []
    serializer_class = EarningEntryOutput

    @extend_schema(
        summary="Earning entries",
        parameters=[EntryQuery],
        responses={200: EarningEntryOutput(many=True), 400: RANGE_INVALID, 401: NOT_AUTHENTICATED},
    )
    def get(self, request: Request) -> Response:
        query = EntryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        entries = selectors.earning_entry_list(
            viewer=viewer_of(request),
            school_id=params.get("school"),
            teacher_id=params.get("teacher"),
            session_id=params.get("session"),
            status=params.get("status"),
            kind=params.get("kind"),
            date_from=params.get("from"),
            date_to=params.get("to"),
        )
        page = self.paginate_queryset(entries)
        return self.get_paginated_response([entry_item(entry) for entry in page or []])


class EarningApproveApi(APIView):
    """Approve pending entries of a school."""

    @extend_schema(
        summary="Approve earning entries",
        description="Pending entries of the school become `approved`. Any id that is not a pending entry of this "
        "school refuses the whole request (400), without saying whether it exists elsewhere: a `held` entry "
        "must first be released (`/api/earnings/review/`).",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=ApproveInput,
        responses={
            200: ApproveOutput,
            400: _entries_refused(
                "Unknown or not pending entries.", "Not pending", services.ENTRIES_NOT_PENDING.format(ids="12")
            ),
            401: NOT_AUTHENTICATED,
            403: MANAGE_FORBIDDEN,
            404: NOT_FOUND,
            409: error_response(
                409, "Idempotency-Key reused.", ("Key reused", "idempotency_key_reused", KEY_REUSED, None)
            ),
        },
        examples=[OpenApiExample("Approve", value={"school_id": 1, "entry_ids": [90, 91]}, request_only=True)],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = ApproveInput(data=request.data)
        data.is_valid(raise_exception=True)
        school = selectors.earnings_school_for_manager(
            viewer=viewer_of(request), school_id=data.validated_data["school_id"]
        )
        entries = services.earnings_approve(
            viewer=viewer_of(request),
            school=school,
            entry_ids=data.validated_data["entry_ids"],
        )
        return Response({"approved": [entry_item(entry) for entry in entries]})


class EarningReviewApi(APIView):
    """Release or reject held entries of a school."""

    @extend_schema(
        summary="Decide on held earning entries",
        description="An entry a teacher claimed beyond the school's bounds is `held`: it is never approved or paid "
        "until the school's owners or admins decide. `release` makes it `pending` (approve and pay it as usual); "
        "`reject` makes it `rejected`: never paid, counted in no total. Any id that is not a held entry of this "
        "school refuses the whole request (400). A held adjustment that a later amendment of the same session "
        "built on can only be released (409): rejecting it would leave the session's pay adding up wrong.",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=ReviewInput,
        responses={
            200: ReviewOutput,
            400: _entries_refused(
                "Unknown or not held entries.", "Not held", services.ENTRIES_NOT_HELD.format(ids="12")
            ),
            401: NOT_AUTHENTICATED,
            403: MANAGE_FORBIDDEN,
            404: NOT_FOUND,
            409: error_response(
                409,
                "A later amendment builds on the entry, or the Idempotency-Key was reused.",
                ("Built upon", "review_built_upon", services.REJECT_BUILT_UPON.format(ids="12"), None),
                ("Key reused", "idempotency_key_reused", KEY_REUSED, None),
            ),
        },
        examples=[
            OpenApiExample(
                "Reject",
                value={"school_id": 1, "entry_ids": [93], "decision": "reject", "reason": "No such lesson."},
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        school = selectors.earnings_school_for_manager(
            viewer=viewer_of(request), school_id=data.validated_data["school_id"]
        )
        entries = services.earnings_review(
            viewer=viewer_of(request),
            school=school,
            entry_ids=data.validated_data["entry_ids"],
            decision=ReviewDecision(data.validated_data["decision"]),
            reason=data.validated_data["reason"],
        )
        return Response({"entries": [entry_item(entry) for entry in entries]})


class PayoutListApi(generics.GenericAPIView):
    """Payouts: list the ones the caller may see, or pay approved entries."""

    filter_backends: list[type] = []
    serializer_class = PayoutOutput

    @extend_schema(
        summary="Payouts",
        description="Owners and admins see their schools' payouts; a teacher sees their own.",
        parameters=[PayoutQuery],
        responses={200: PayoutOutput(many=True), 400: error_response(400, "Invalid filter."), 401: NOT_AUTHENTICATED},
    )
    def get(self, request: Request) -> Response:
        query = PayoutQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        payouts = selectors.payout_list(
            viewer=viewer_of(request),
            school_id=query.validated_data.get("school"),
            teacher_id=query.validated_data.get("teacher"),
        )
        page = self.paginate_queryset(payouts)
        return self.get_paginated_response([payout_item(payout) for payout in page or []])

    @extend_schema(
        summary="Pay approved entries",
        description="Approved entries of one teacher in one school become `paid` under a new payout whose amount "
        "is their sum. A payout is never below zero: a negative adjustment is paid together with at least as much "
        "positive pay, never alone (409). Held entries cannot be paid until released and approved.",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=PayoutInput,
        responses={
            201: PayoutOutput,
            400: error_response(
                400,
                "Unknown entries, or more than one payout can hold.",
                (
                    "Unknown entries",
                    "invalid",
                    services.ENTRIES_UNKNOWN.format(ids="12"),
                    {"entry_ids": [services.ENTRIES_UNKNOWN.format(ids="12")]},
                ),
                (
                    "Too large",
                    "amount_too_large",
                    services.PAYOUT_TOO_LARGE,
                    {"entry_ids": [services.PAYOUT_TOO_LARGE]},
                ),
            ),
            401: NOT_AUTHENTICATED,
            403: MANAGE_FORBIDDEN,
            404: NOT_FOUND,
            409: error_response(
                409,
                "Some entries are not approved, or the Idempotency-Key was reused.",
                ("Not approved", "not_approved", services.ENTRIES_NOT_APPROVED.format(ids="12"), None),
                ("Below zero", "payout_negative", services.PAYOUT_NEGATIVE.format(amount="-6.50"), None),
                ("Key reused", "idempotency_key_reused", KEY_REUSED, None),
            ),
        },
        examples=[
            OpenApiExample(
                "Pay March",
                value={"school_id": 1, "teacher_id": 7, "entry_ids": [90, 91], "reference": "SEPA 2025-04"},
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = PayoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        viewer = viewer_of(request)
        school = selectors.earnings_school_for_manager(viewer=viewer, school_id=data.validated_data["school_id"])
        payout = services.payout_create(
            viewer=viewer_of(request),
            school=school,
            teacher_id=data.validated_data["teacher_id"],
            entry_ids=data.validated_data["entry_ids"],
            reference=data.validated_data["reference"],
        )
        created = selectors.payout_list(viewer=viewer).get(pk=payout.pk)
        return Response(payout_item(created), status=status.HTTP_201_CREATED)
