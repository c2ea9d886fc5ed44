"""OpenAPI documentation of the one error shape (see ``chalkboard.common.errors``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from chalkboard.common.errors import error_body


class ErrorOutput(serializers.Serializer):
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
    """A documented error answer; each example is ``(name, code, message, fields)``."""
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
