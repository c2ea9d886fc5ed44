"""Domain errors and the one JSON error shape every endpoint answers with.

Every error body is ``{"status": 400, "code": "invalid", "message": "...", "fields": {"name": ["..."]}}``;
``fields`` is present when particular input fields are at fault.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("chalkboard.errors")


class DomainError(Exception):
    """A rule of the domain refused the operation. Services raise these; the API maps them to HTTP."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields
        if code is not None:
            self.code = code


class ValidationFailed(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"


class NotFound(DomainError):
    """Missing, or not visible to the caller: both answer the same."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"

    def __init__(self, message: str = "Not found.", **kwargs: Any):
        super().__init__(message, **kwargs)


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "forbidden"

    def __init__(self, message: str = "You may not do this.", **kwargs: Any):
        super().__init__(message, **kwargs)


class Conflict(DomainError):
    """The object is in a state that does not allow the operation."""

    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


def error_body(*, status_code: int, code: str, message: str, fields: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status_code, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return body


def _flatten_detail(detail: Any) -> Any:
    """DRF's nested ``ErrorDetail`` structures as plain strings, keeping their shape."""
    if isinstance(detail, dict):
        return {str(key): _flatten_detail(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten_detail(item) for item in detail]
    return str(detail)


def _from_api_exception(exc: exceptions.APIException) -> tuple[int, dict[str, Any]]:
    code = exc.default_code
    if isinstance(exc, exceptions.ValidationError):
        detail = _flatten_detail(exc.detail)
        if isinstance(detail, dict):
            non_field = detail.pop("non_field_errors", None)
            message = non_field[0] if non_field else "Some fields are invalid."
            fields = detail or None
        else:
            message = detail[0] if isinstance(detail, list) and detail else str(detail)
            fields = None
        return exc.status_code, error_body(status_code=exc.status_code, code=code, message=message, fields=fields)
    detail = exc.detail
    message = str(detail) if not isinstance(detail, (dict, list)) else "Request failed."
    if isinstance(exc, exceptions.Throttled):
        code = "throttled"
    return exc.status_code, error_body(status_code=exc.status_code, code=str(code), message=message)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    status_code: int
    body: dict[str, Any]
    if isinstance(exc, DomainError):
        status_code = exc.status_code
        body = error_body(status_code=status_code, code=exc.code, message=exc.message, fields=exc.fields)
    elif isinstance(exc, Http404):
        status_code = 404
        body = error_body(status_code=404, code="not_found", message="Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        status_code = 403
        body = error_body(status_code=403, code="forbidden", message="You may not do this.")
    elif isinstance(exc, exceptions.APIException):
        status_code, body = _from_api_exception(exc)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", type(exc).__name__)
        status_code = 503
        body = error_body(status_code=503, code="unavailable", message="The service is briefly unavailable.")
        headers["Retry-After"] = "5"
    elif isinstance(exc, DatabaseError):
        logger.exception("database error")
        status_code = 500
        body = error_body(status_code=500, code="server_error", message="Something went wrong on our side.")
    else:
        return None
    set_rollback()
    return Response(body, status=status_code, headers=headers)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's answer to a URL no route matches (``/api/sessions/abc/``), in the one error shape rather
    than an HTML page."""
    body = error_body(status_code=404, code="not_found", message="Not found.")
    return JsonResponse(body, status=404, json_dumps_params={"separators": (",", ":")})
