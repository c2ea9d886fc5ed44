from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from chalkboard.common.api import NOT_AUTHENTICATED, IdField, accepts_gzip, error_response, etag_matches
from chalkboard.common.cache import cache_read_many
from chalkboard.dashboard.selectors import dashboard_cache_keys, dashboard_page
from chalkboard.schools.access import viewer_cache_keys, viewer_of

# One field, not a serializer per request: a serializer's construction alone measured 0.2 ms, an eighth of
# a cached dashboard.
SCHOOL_PARAMETER = IdField()


def _school_asked(request: Request) -> int | None:
    """``?school=``, validated as a serializer would (an empty value counts as absent)."""
    value = request.query_params.get("school", "")
    if value == "":
        return None
    try:
        return int(SCHOOL_PARAMETER.run_validation(value))
    except serializers.ValidationError as error:
        raise serializers.ValidationError({"school": error.detail}) from error


DASHBOARD_EXAMPLE = {
    "teacher": {"id": 7, "name": "Marta Sousa", "email": "marta@example.com"},
    "school": {"id": 1, "name": "Lisbon Learning Centre", "timezone": "Europe/Lisbon", "currency": "EUR"},
    "generated_at": "2026-11-27T09:00:00Z",
    "today": {"date": "2026-11-27", "sessions": []},
    "upcoming": [],
    "to_complete": [],
    "students": {"count": 0, "results": []},
    "recent_assessments": [],
    "earnings": {
        "currency": "EUR",
        "this_month": "420.00",
        "last_month": "980.50",
        "pending": "120.00",
        "approved": "300.00",
        "paid": "5400.00",
        "held": "0.00",
    },
    "stats": {
        "sessions_this_month": 14,
        "hours_this_month": "14.00",
        "attendance_rate": "0.93",
        "no_shows_this_month": 1,
        "average_assessment_percentage": "76.40",
    },
    "activity": [],
}


class TeacherDashboardApi(APIView):
    """A teacher's day in one school: sessions today, this week and waiting to be completed, students and
    how they progress, recent assessments, earnings and this month's figures."""

    @extend_schema(
        operation_id="teacher_dashboard",
        parameters=[
            OpenApiParameter("school", OpenApiTypes.INT, description="Which school, for a teacher in several."),
            OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER),
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample("Dashboard", DASHBOARD_EXAMPLE)]),
            304: OpenApiResponse(description="Unchanged since the ETag sent in If-None-Match."),
            400: error_response(
                400,
                "Invalid `school`.",
                ("Invalid school", "invalid", "Some fields are invalid.", {"school": ["A valid integer is required."]}),
            ),
            401: NOT_AUTHENTICATED,
            404: error_response(
                404,
                "No such teacher, or not one the caller may see: the same answer.",
                ("Not found", "not_found", "Not found.", None),
            ),
        },
    )
    def get(self, request: Request, teacher_id: int) -> HttpResponse:
        school_id, user_id = _school_asked(request), request.user.pk
        found = None
        if school_id is not None and user_id is not None:
            # The viewer's roles and the page, with the versions of both, in one round trip to the cache.
            key, scopes = dashboard_cache_keys(teacher_id=teacher_id, school_id=school_id)
            found = cache_read_many([*viewer_cache_keys(user_id), *scopes, key])
        viewer = viewer_of(request, found=found)
        page = dashboard_page(viewer=viewer, teacher_id=teacher_id, school_id=school_id, found=found)
        headers = {"ETag": page.etag, "Cache-Control": "private, no-cache", "Vary": "Authorization, Accept-Encoding"}
        if etag_matches(request.headers.get("If-None-Match", ""), page.etag):
            return HttpResponse(status=304, headers=headers)
        if accepts_gzip(request):
            headers["Content-Encoding"] = "gzip"
            return HttpResponse(page.gzipped, content_type="application/json", headers=headers)
        return HttpResponse(page.body, content_type="application/json", headers=headers)
