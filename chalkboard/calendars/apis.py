"""Calendar feeds over HTTP: a person's own feeds (list, make, rotate, revoke) with their bearer token, and
the feed itself, read by a calendar app from its secret address with no other credential."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import renderers, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chalkboard.calendars import selectors, services
from chalkboard.calendars.ics import feed_document
from chalkboard.calendars.models import CalendarFeed, FeedKind
from chalkboard.common.api import NOT_FOUND, IdField, accepts_gzip, error_responses, etag_matches
from chalkboard.common.cache import cached_versioned
from chalkboard.schools.apis import ScopedListApi, ViewerApi, parse

ICS_CONTENT_TYPE = "text/calendar; charset=utf-8"
# A day's feed is cached until the versions it was built at change, or the day (and so the window) does.
FEED_CACHE_SECONDS = 60 * 60


class FeedInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=FeedKind.choices)
    school_id = IdField()
    student_id = IdField(required=False, help_text="The student of a `student` feed: yourself, or your ward.")


class FeedOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=FeedKind.choices)
    school_id = serializers.IntegerField()
    teacher_id = serializers.IntegerField(allow_null=True)
    student_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    rotated_at = serializers.DateTimeField(allow_null=True)


class FeedWithUrlOutput(FeedOutput):
    url = serializers.URLField(help_text="The feed's secret address. Shown this once: keep it like a password.")


def feed_data(feed: CalendarFeed) -> dict[str, Any]:
    return {
        "id": feed.pk,
        "kind": feed.kind,
        "school_id": feed.school_id,
        "teacher_id": feed.teacher_id,
        "student_id": feed.student_id,
        "created_at": feed.created_at,
        "rotated_at": feed.rotated_at,
    }


def _with_url(request: Request, feed: CalendarFeed, token: str) -> dict[str, Any]:
    url = request.build_absolute_uri(reverse("calendar-feed-ics", kwargs={"token": token}))
    return FeedWithUrlOutput({**feed_data(feed), "url": url}).data


class FeedListApi(ScopedListApi):
    """My calendar feeds; making one."""

    model = CalendarFeed

    def scoped_queryset(self) -> Any:
        return selectors.feed_list(viewer=self.viewer)

    @extend_schema(operation_id="calendar_feeds_list", responses=FeedOutput(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated(lambda page: [feed_data(feed) for feed in page], FeedOutput)

    @extend_schema(
        operation_id="calendar_feeds_create",
        request=FeedInput,
        responses={201: FeedWithUrlOutput, **error_responses(400, 403)},
        description="A feed of your own: `teacher` (your sessions in a school you teach in), `student` (a "
        "student's sessions, for the student or their guardian) or `school` (every session of a school you "
        "own or run). The answer carries the feed's secret address, shown this once. At most "
        f"{services.MAX_FEEDS_PER_PERSON} feeds each.",
    )
    def post(self, request: Request) -> Response:
        data = parse(FeedInput, request.data)
        feed, token = services.feed_create(
            viewer=self.viewer, kind=data["kind"], school_id=data["school_id"], student_id=data.get("student_id")
        )
        return Response(_with_url(request, feed, token), status=status.HTTP_201_CREATED)


class FeedDetailApi(ViewerApi):
    """One of my calendar feeds."""

    @extend_schema(operation_id="calendar_feeds_retrieve", responses={200: FeedOutput, 404: NOT_FOUND})
    def get(self, request: Request, feed_id: int) -> Response:
        feed = selectors.feed_get_for_owner(viewer=self.viewer, feed_id=feed_id)
        return Response(FeedOutput(feed_data(feed)).data)

    @extend_schema(
        operation_id="calendar_feeds_revoke",
        responses={204: None, 404: NOT_FOUND},
        description="Revoke the feed: its address answers 404 from now on.",
    )
    def delete(self, request: Request, feed_id: int) -> Response:
        feed = selectors.feed_get_for_owner(viewer=self.viewer, feed_id=feed_id)
        services.feed_revoke(viewer=self.viewer, feed=feed)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FeedRotateApi(ViewerApi):
    """A new secret address for one of my feeds."""

    @extend_schema(
        operation_id="calendar_feeds_rotate",
        request=None,
        responses={200: FeedWithUrlOutput, 404: NOT_FOUND},
        description="The old address answers 404 from now on; the answer carries the new one, shown this once.",
    )
    def post(self, request: Request, feed_id: int) -> Response:
        feed = selectors.feed_get_for_owner(viewer=self.viewer, feed_id=feed_id)
        token = services.feed_rotate(viewer=self.viewer, feed=feed)
        return Response(_with_url(request, feed, token))


class AnyAccept(DefaultContentNegotiation):
    """A feed answers whatever its client accepts (calendar apps ask for ``text/calendar``, or for anything):
    the document itself as ``text/calendar``, an error in the API's JSON error shape."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class FeedIcsApi(APIView):
    """A calendar feed, for calendar apps: the secret in the address is the only credential."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    renderer_classes = [renderers.JSONRenderer]
    content_negotiation_class = AnyAccept

    @extend_schema(
        operation_id="calendar_feed_read",
        auth=[],
        responses={
            (200, "text/calendar"): OpenApiResponse(OpenApiTypes.STR, description="An iCalendar document."),
            304: OpenApiResponse(description="Unchanged since the `ETag` given in `If-None-Match`."),
            404: NOT_FOUND,
        },
        description="The sessions of the feed's window (the past 4 weeks and the coming 6 months, in the "
        "school's time zone), as RFC 5545 events. 404 for an address revoked, rotated away or never issued, "
        "and for a feed whose owner may no longer see its sessions.",
    )
    def get(self, request: Request, token: str) -> HttpResponse:
        feed, viewer = selectors.feed_get_by_token(token)
        window = selectors.feed_window(feed)
        document = cached_versioned(
            f"calendar:{feed.kind}:{feed.school_id}:{feed.teacher_id or feed.student_id or 0}",
            scopes=selectors.feed_scopes(feed),
            build=lambda: feed_document(
                feed,
                selectors.feed_sessions(viewer=viewer, feed=feed, window=window),
                window,
                person=selectors.feed_person(feed),
            ),
            timeout=FEED_CACHE_SECONDS,
            is_fresh=lambda document: document.day == window.today,
        )
        headers = {"ETag": document.etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding"}
        if etag_matches(request.headers.get("If-None-Match", ""), document.etag):
            return HttpResponse(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        headers["Content-Disposition"] = 'inline; filename="chalkboard.ics"'
        if accepts_gzip(request):
            headers["Content-Encoding"] = "gzip"
            return HttpResponse(document.gzipped, content_type=ICS_CONTENT_TYPE, headers=headers)
        return HttpResponse(document.body, content_type=ICS_CONTENT_TYPE, headers=headers)
