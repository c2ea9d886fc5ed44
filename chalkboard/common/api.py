"""The pieces every API shares: the one error shape and its OpenAPI documentation, and small output shapes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

from django.http import HttpRequest
from django.utils.dateparse import parse_datetime
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from chalkboard.common.errors import error_body

# The largest id a database column holds (a signed 64-bit integer): a larger one is a 400, never a 500.
MAX_ID = 2**63 - 1


def IdField(**kwargs: Any) -> serializers.IntegerField:  # noqa: N802 - reads like the field classes it stands with
    """An id in a request: a positive integer that fits the database's ids."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def IdListField(**kwargs: Any) -> serializers.ListField:  # noqa: N802
    """A list of ids in a request, 100 at most unless ``max_length`` says otherwise."""
    kwargs.setdefault("max_length", 100)
    return serializers.ListField(child=IdField(), **kwargs)


# Times are accepted within these bounds: far enough for any real timetable, and safe from date overflow.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(3000, 1, 1, tzinfo=UTC)
TIME_OUT_OF_RANGE = "Give a time between 1970 and 2999."


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
# In a query string an unencoded "+" arrives as a space: "T10:00:00 01:00" meant "T10:00:00+01:00".
_SPACED_OFFSET = re.compile(r"(T[\d:.]+) (\d{2}(?::?\d{2})?)$")


def approximate_instant(value: date | datetime) -> datetime:
    """A date-time as it is; a date as its midnight in UTC (to within a day of any school's midnight)."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min, tzinfo=UTC)


@extend_schema_field(OpenApiTypes.STR)
class DateOrTimeField(serializers.Field):
    """A date (``YYYY-MM-DD``, read in each school's time zone) or an ISO 8601 date-time with its offset, from
    1970 to 2999 (beyond those, a day's local midnight may not exist as a time at all)."""

    default_error_messages = {
        "invalid": "Give a date (YYYY-MM-DD) or a date-time with its offset (YYYY-MM-DDThh:mm:ss+hh:mm).",
        "out_of_range": TIME_OUT_OF_RANGE,
    }

    def to_internal_value(self, data: Any) -> date | datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        text = _SPACED_OFFSET.sub(r"\1+\2", data.strip())
        value: date | datetime | None
        try:
            value = date.fromisoformat(text) if _DATE_ONLY.fullmatch(text) else parse_datetime(text)
        except ValueError:
            value = None
        if value is None or (isinstance(value, datetime) and value.tzinfo is None):
            self.fail("invalid")
        if not EARLIEST_TIME <= approximate_instant(value) < LATEST_TIME:
            self.fail("out_of_range")
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that states its offset: a naive time is refused rather than guessed.

    ``bounded`` refuses a time outside ``EARLIEST_TIME`` to ``LATEST_TIME`` (``out_of_range``). ``strip`` looks
    for a naive time past surrounding white space, so that such a time is told as naive rather than malformed.
    """

    default_error_messages = {
        "naive": "Give the time with its offset, e.g. 2025-03-01T15:00:00+00:00.",
        "out_of_range": TIME_OUT_OF_RANGE,
    }

    def __init__(self, *, bounded: bool = False, strip: bool = False, **kwargs: Any) -> None:
        self.bounded, self.strip = bounded, strip
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip() if self.strip else value)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        result = super().to_internal_value(value)
        if self.bounded and not EARLIEST_TIME <= result < LATEST_TIME:
            self.fail("out_of_range")
        return result


class ErrorOutput(serializers.Serializer):
    """The one error shape of the API."""

    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    # The metaclass takes declared fields off the class, so this does not shadow ``Serializer.fields``.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.JSONField(),
        required=False,
        help_text="The input fields at fault, each with its messages (nested like the input for nested fields).",
    )


class NamedOutput(serializers.Serializer):
    """A reference to a person or a thing by id, with its display name."""

    id = serializers.IntegerField()
    name = serializers.CharField()


def error_response(
    status_code: int, description: str, *examples: tuple[str, str, str, dict[str, Any] | None]
) -> OpenApiResponse:
    """A documented error answer in the one error shape; each example is ``(name, code, message, fields)``."""
    return OpenApiResponse(
        response=ErrorOutput,
        description=description,
        examples=[
            OpenApiExample(
                name,
                value=error_body(status_code=status_code, code=code, message=message, fields=fields),
                response_only=True,
                status_codes=[status_code],
            )
            for name, code, message, fields in examples
        ],
    )


NOT_AUTHENTICATED = error_response(
    401,
    "No valid bearer token.",
    ("Not authenticated", "not_authenticated", "Authentication credentials were not provided.", None),
)
NOT_FOUND = error_response(
    404, "Missing, or not visible to the caller: both answer alike.", ("Not found", "not_found", "Not found.", None)
)

_ERROR_MEANING = {
    400: "Invalid input; `fields` names what is wrong.",
    403: "You may see this, but not do this.",
    404: "No such object, or not one you may see.",
    409: "The object's state does not allow this.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The usual meaning of each of these error statuses, for an operation's ``responses``."""
    return {code: error_response(code, _ERROR_MEANING[code]) for code in codes}


# --- Answers every operation can give, whatever its own annotations say. ---------------------------------

COMMON_ERRORS = {
    "400": "Invalid input or query parameters; `fields` names what is wrong.",
    "401": "No valid bearer token.",
    "404": "Missing, or not visible to the caller: both answer alike (or a page past the last).",
    "429": "Too many requests: wait for the seconds in `Retry-After`.",
}


def _common_errors_for(operation: dict[str, Any]) -> list[str]:
    parameters = operation.get("parameters", [])
    codes = ["429"]
    if operation.get("security") and operation["security"] != [{}]:
        codes.append("401")
    if "requestBody" in operation or any(parameter["in"] == "query" for parameter in parameters):
        codes.append("400")
    if any(parameter["in"] == "path" or parameter["name"] == "page" for parameter in parameters):
        codes.append("404")
    return codes


def document_common_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """A drf-spectacular post-processing hook: every operation documents the errors any request to it may get
    (401 without a valid token, 429 when throttled, 400 for bad input, 404 for an id it cannot see or a page
    past the last), in the one error shape, unless its own annotations describe them already."""
    error = {"$ref": "#/components/schemas/ErrorOutput"}
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "ErrorOutput",
        {
            "type": "object",
            "description": "The one error shape of the API.",
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {}},
            },
            "required": ["code", "message", "status"],
        },
    )
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code in _common_errors_for(operation):
                responses.setdefault(
                    code, {"description": COMMON_ERRORS[code], "content": {"application/json": {"schema": error}}}
                )
    return result


# --- Conditional and compressed answers of pages built once (the dashboard, calendar feeds). ------------

ACCEPTS_GZIP = re.compile(r"\bgzip\b")


def accepts_gzip(request: HttpRequest) -> bool:
    return bool(ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")))


def etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match`` against our tag, compared weakly (RFC 9110): compression may have turned our strong
    tag into a weak one."""
    wanted = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == wanted for tag in parse_etags(header))
