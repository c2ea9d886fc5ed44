"""The session list's query parameters, validated before anything reaches the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chalkboard.common.api import DateOrTimeField, IdField, approximate_instant
from chalkboard.scheduling.models import SessionStatus

MAX_RANGE = timedelta(days=366)
RANGE_TOO_LONG = "The range from `from` to `to` may span at most 366 days."
RANGE_EMPTY = "`to` must be later than `from`."
ORDERINGS = ("starts_at", "-starts_at")


@extend_schema_field(OpenApiTypes.STR)
class StatusesField(serializers.Field):
    """One or several statuses, comma-separated (``status=scheduled,completed``) or repeated."""

    default_error_messages = {
        "invalid": "Give one or more statuses separated by commas.",
        "invalid_choice": "Unknown status {value!r}; expected one of: {choices}.",
    }

    def get_value(self, dictionary: Any) -> Any:
        if hasattr(dictionary, "getlist") and self.field_name in dictionary:
            return ",".join(dictionary.getlist(self.field_name))
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, str):
            self.fail("invalid")
        statuses = [item.strip() for item in data.split(",") if item.strip()]
        if not statuses:
            self.fail("invalid")
        for value in statuses:
            if value not in SessionStatus.values:
                self.fail("invalid_choice", value=value, choices=", ".join(SessionStatus.values))
        return list(dict.fromkeys(statuses))


class SessionListFilters(serializers.Serializer):
    """Query parameters of ``GET /api/sessions/``. Unknown ids simply match nothing."""

    school = IdField(required=False, source="school_id", help_text="Only this school's sessions.")
    teacher = IdField(required=False, source="teacher_id", help_text="Only this teacher's sessions.")
    student = IdField(required=False, source="student_id", help_text="Only sessions this student is booked into.")
    subject = IdField(required=False, source="subject_id", help_text="Only sessions of this subject.")
    status = StatusesField(
        required=False,
        source="statuses",
        help_text=f"One or more of {', '.join(SessionStatus.values)}, separated by commas.",
    )
    # Renamed to ``from`` and ``to`` in get_fields(): those are Python keywords.
    starts_from = DateOrTimeField(
        required=False,
        source="starts_from",
        help_text="Sessions starting at or after this date (in the school's time zone) or date-time.",
    )
    starts_before = DateOrTimeField(
        required=False,
        source="starts_before",
        help_text="Sessions starting before this date (in the school's time zone) or date-time. "
        "With `from`, the range may span at most 366 days.",
    )
    ordering = serializers.ChoiceField(choices=ORDERINGS, required=False, default="starts_at")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        renamed = {"starts_from": "from", "starts_before": "to"}
        return {renamed.get(name, name): field for name, field in fields.items()}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        lower, upper = attrs.get("starts_from"), attrs.get("starts_before")
        if lower is not None and upper is not None:
            span = approximate_instant(upper) - approximate_instant(lower)
            if span <= timedelta(0):
                raise serializers.ValidationError({"to": [RANGE_EMPTY]})
            if span > MAX_RANGE:
                raise serializers.ValidationError({"to": [RANGE_TOO_LONG]})
        return attrs
