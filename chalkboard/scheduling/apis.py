"""The sessions API: list and book, read, reschedule, cancel. Sessions are history: there is no DELETE."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chalkboard.common.api import NOT_AUTHENTICATED, error_response
from chalkboard.common.errors import ValidationFailed
from chalkboard.common.pagination import PageNumberPagination
from chalkboard.scheduling.filters import SessionListFilters
from chalkboard.scheduling.selectors import (
    session_get_for_manager,
    session_get_for_viewer,
    session_list_filtered,
    session_notes,
)
from chalkboard.scheduling.serializers import (
    MAX_VERSION,
    SessionCancelInput,
    SessionCreateInput,
    SessionDetailOutput,
    SessionOutput,
    SessionUpdateInput,
    session_detail_payload,
    session_payload,
)
from chalkboard.scheduling.services import session_cancel, session_create, session_update
from chalkboard.schools.access import Viewer, viewer_of

INVALID_IF_MATCH = 'If-Match must carry the session\'s version, e.g. If-Match: "3".'


NOT_VISIBLE = error_response(404, "No such session, or one the caller may not see.")
NOT_MANAGER = error_response(403, "The caller may see the session but not change it.")
CHANGE_ERRORS = {
    400: error_response(400, "Invalid input."),
    401: NOT_AUTHENTICATED,
    403: NOT_MANAGER,
    404: NOT_VISIBLE,
}

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The session\'s `version` as read (e.g. `"3"`); the change is refused with 409 if it has changed '
    "since. A `version` in the body takes precedence.",
)


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _detail(viewer: Viewer, session_id: int) -> dict[str, Any]:
    session = session_get_for_viewer(viewer=viewer, session_id=session_id)
    return session_detail_payload(session, notes=session_notes(viewer=viewer, session=session))


def _version_from_if_match(request: Request) -> int | None:
    """``If-Match: "3"`` (or ``W/"3"``, or ``3``) → 3; absent or ``*`` → no check."""
    header = request.headers.get("If-Match", "").strip()
    if header in ("", "*"):
        return None
    text = header.removeprefix("W/").strip('"')
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_VERSION:
        raise ValidationFailed(INVALID_IF_MATCH, fields={"If-Match": [INVALID_IF_MATCH]})
    return int(text)


class SessionListApi(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        summary="List the sessions the caller may see",
        description="Staff see all of their schools' sessions; a teacher the sessions they teach; a student their "
        "own; a guardian their children's.",
        parameters=[SessionListFilters],
        responses={200: SessionOutput(many=True), 400: error_response(400, "Invalid filters."), 401: NOT_AUTHENTICATED},
    )
    def get(self, request: Request) -> Response:
        filters = _validated(SessionListFilters, request.query_params)
        sessions = session_list_filtered(viewer=viewer_of(request), **filters)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(sessions, request, view=self) or []
        return paginator.get_paginated_response([session_payload(session) for session in page])

    @extend_schema(
        summary="Book a session",
        description="Owners and admins book for any teacher of their school; a teacher only for themselves.",
        request=SessionCreateInput,
        responses={
            201: SessionDetailOutput,
            400: error_response(
                400, "Invalid input, or a teacher, subject or student that is not active in the school."
            ),
            401: NOT_AUTHENTICATED,
            403: error_response(403, "A member of the school who may not book this session."),
            404: error_response(404, "The caller is not a member of the school."),
        },
    )
    def post(self, request: Request) -> Response:
        viewer = viewer_of(request)
        data = _validated(SessionCreateInput, request.data)
        session = session_create(viewer=viewer, **data)
        return Response(_detail(viewer, session.pk), status=status.HTTP_201_CREATED)


class SessionDetailApi(APIView):
    @extend_schema(
        summary="Read a session",
        description="With the notes the caller may read: students and guardians see `shared` notes, the "
        "session's teacher `shared` and `staff`, owners and admins all.",
        responses={200: SessionDetailOutput, 401: NOT_AUTHENTICATED, 404: NOT_VISIBLE},
    )
    def get(self, request: Request, session_id: int) -> Response:
        return Response(_detail(viewer_of(request), session_id))

    @extend_schema(
        summary="Reschedule or edit a session",
        description="Only while the session is `scheduled`. Every change bumps `version`.",
        request=SessionUpdateInput,
        parameters=[IF_MATCH],
        responses={
            200: SessionDetailOutput,
            **CHANGE_ERRORS,
            409: error_response(409, "The session is no longer scheduled, or has changed since the given version."),
        },
    )
    def patch(self, request: Request, session_id: int) -> Response:
        viewer = viewer_of(request)
        session = session_get_for_manager(viewer=viewer, session_id=session_id)
        data = _validated(SessionUpdateInput, request.data)
        expected_version = data.pop("version", None)
        if expected_version is None:
            expected_version = _version_from_if_match(request)
        session_update(viewer=viewer, session=session, expected_version=expected_version, **data)
        return Response(_detail(viewer, session_id))


class SessionCancelApi(APIView):
    @extend_schema(
        summary="Cancel a session",
        operation_id="sessions_cancel",
        request=SessionCancelInput,
        responses={
            200: SessionDetailOutput,
            **CHANGE_ERRORS,
            409: error_response(409, "The session is already completed, a no-show or cancelled."),
        },
    )
    def post(self, request: Request, session_id: int) -> Response:
        viewer = viewer_of(request)
        session = session_get_for_manager(viewer=viewer, session_id=session_id)
        data = _validated(SessionCancelInput, request.data)
        session_cancel(viewer=viewer, session=session, reason=data["reason"])
        return Response(_detail(viewer, session_id))
