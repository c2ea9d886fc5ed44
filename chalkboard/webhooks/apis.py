"""Webhook endpoints over HTTP, for a school's owners and admins: making, changing, re-keying and deleting
them, their delivery logs, and redelivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from chalkboard.common.api import NOT_FOUND, IdField, error_responses
from chalkboard.realtime.models import EventType
from chalkboard.schools.apis import ScopedListApi, ViewerApi, parse
from chalkboard.webhooks import selectors, services
from chalkboard.webhooks.models import AttemptOutcome, AttemptTrigger, Delivery, DeliveryStatus, Endpoint

URL_HELP = "Where deliveries are POSTed: https (plain http only where the deployment allows it), a public address."
TYPES_HELP = "The event types delivered; empty: every type."


class EndpointInput(serializers.Serializer):
    school_id = IdField()
    url = serializers.URLField(max_length=2000, help_text=URL_HELP)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), required=False, default=list, help_text=TYPES_HELP
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class EndpointChange(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False, help_text=URL_HELP)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), required=False, help_text=TYPES_HELP
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(
        required=False, help_text="false disables it; true enables it again, resuming where its deliveries stopped."
    )


class RotateInput(serializers.Serializer):
    overlap_seconds = serializers.IntegerField(
        min_value=0,
        max_value=int(services.MAX_ROTATION_OVERLAP.total_seconds()),
        required=False,
        default=int(services.ROTATION_OVERLAP.total_seconds()),
        help_text="How long the current secret still signs beside the new one (0: it stops at once).",
    )


class EndpointOutput(serializers.Serializer):
    id = serializers.IntegerField()
    school_id = serializers.IntegerField()
    url = serializers.URLField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices))
    is_active = serializers.BooleanField()
    disabled_reason = serializers.CharField(help_text="Why it is disabled; empty while active.")
    disabled_at = serializers.DateTimeField(allow_null=True)
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until when the secret before the last rotation still signs too."
    )
    created_at = serializers.DateTimeField()


class EndpointWithSecretOutput(EndpointOutput):
    secret = serializers.CharField(help_text="The signing secret (whsec_…). Shown this once: keep it like a password.")


class AttemptOutput(serializers.Serializer):
    id = serializers.IntegerField()
    trigger = serializers.ChoiceField(choices=AttemptTrigger.choices)
    started_at = serializers.DateTimeField()
    outcome = serializers.ChoiceField(choices=AttemptOutcome.choices)
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    response_excerpt = serializers.CharField(help_text="The first 1,024 bytes of the answer's body.")
    error = serializers.CharField()


class DeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    webhook_id = serializers.CharField(help_text="The `webhook-id` header: the same on every attempt.")
    event_id = serializers.IntegerField()
    event_type = serializers.ChoiceField(choices=EventType.choices)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    next_attempt_at = serializers.DateTimeField(help_text="When a pending delivery is next tried, in its turn.")
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    attempts = AttemptOutput(many=True)


def endpoint_data(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.pk,
        "school_id": endpoint.school_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "is_active": endpoint.is_active,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": endpoint.disabled_at,
        "previous_secret_expires_at": endpoint.previous_secret_expires_at,
        "created_at": endpoint.created_at,
    }


def delivery_data(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "webhook_id": delivery.message_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at,
        "created_at": delivery.created_at,
        "attempts": [
            {
                "id": attempt.pk,
                "trigger": attempt.trigger,
                "started_at": attempt.started_at,
                "outcome": attempt.outcome,
                "status_code": attempt.status_code,
                "latency_ms": attempt.latency_ms,
                "response_excerpt": attempt.response_excerpt,
                "error": attempt.error,
            }
            for attempt in delivery.attempt_log.all()
        ],
    }


class EndpointListApi(ScopedListApi):
    """The webhook endpoints of the schools I own or run; making one."""

    model = Endpoint

    def scoped_queryset(self) -> Any:
        return selectors.endpoint_list(viewer=self.viewer)

    @extend_schema(operation_id="webhook_endpoints_list", responses=EndpointOutput(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated(lambda page: [endpoint_data(endpoint) for endpoint in page], EndpointOutput)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=EndpointInput,
        responses={201: EndpointWithSecretOutput, **error_responses(400, 403)},
        description="An endpoint of a school you own or run. It receives, signed as the Standard Webhooks "
        "specification defines, every event of the school written from now on that it subscribes to, in the "
        "school's commit order. The answer carries the signing secret, shown this once. At most "
        f"{services.MAX_ENDPOINTS_PER_SCHOOL} endpoints a school.",
    )
    def post(self, request: Request) -> Response:
        data = parse(EndpointInput, request.data)
        endpoint, secret = services.endpoint_create(
            viewer=self.viewer,
            school_id=data["school_id"],
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
        )
        return Response(
            EndpointWithSecretOutput({**endpoint_data(endpoint), "secret": secret}).data,
            status=status.HTTP_201_CREATED,
        )


class EndpointDetailApi(ViewerApi):
    """One webhook endpoint of a school I own or run."""

    @extend_schema(operation_id="webhook_endpoints_retrieve", responses={200: EndpointOutput, 404: NOT_FOUND})
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = selectors.endpoint_get_for_staff(viewer=self.viewer, endpoint_id=endpoint_id)
        return Response(EndpointOutput(endpoint_data(endpoint)).data)

    @extend_schema(
        operation_id="webhook_endpoints_partial_update",
        request=EndpointChange,
        responses={200: EndpointOutput, **error_responses(400), 404: NOT_FOUND},
    )
    def patch(self, request: Request, endpoint_id: int) -> Response:
        endpoint = selectors.endpoint_get_for_staff(viewer=self.viewer, endpoint_id=endpoint_id)
        data = parse(EndpointChange, request.data)
        endpoint = services.endpoint_update(viewer=self.viewer, endpoint=endpoint, **data)
        return Response(EndpointOutput(endpoint_data(endpoint)).data)

    @extend_schema(
        operation_id="webhook_endpoints_destroy",
        responses={204: None, 404: NOT_FOUND},
        description="Delete the endpoint with its delivery log: nothing more is sent to it.",
    )
    def delete(self, request: Request, endpoint_id: int) -> Response:
        endpoint = selectors.endpoint_get_for_staff(viewer=self.viewer, endpoint_id=endpoint_id)
        services.endpoint_delete(viewer=self.viewer, endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateApi(ViewerApi):
    """A new signing secret for an endpoint."""

    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        request=RotateInput,
        responses={200: EndpointWithSecretOutput, **error_responses(400), 404: NOT_FOUND},
        description="The answer carries the new secret, shown this once. Until `previous_secret_expires_at`, "
        "every delivery carries two signatures, one of each secret, so a receiver verifies with either.",
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint = selectors.endpoint_get_for_staff(viewer=self.viewer, endpoint_id=endpoint_id)
        data = parse(RotateInput, request.data)
        overlap = timedelta(seconds=data["overlap_seconds"])
        secret = services.endpoint_rotate_secret(viewer=self.viewer, endpoint=endpoint, overlap=overlap)
        return Response(EndpointWithSecretOutput({**endpoint_data(endpoint), "secret": secret}).data)


class DeliveryListApi(ScopedListApi):
    """An endpoint's delivery log: every event it was owed, newest first, with every attempt."""

    model = Delivery

    def scoped_queryset(self) -> Any:
        endpoint = selectors.endpoint_get_for_staff(viewer=self.viewer, endpoint_id=self.kwargs["endpoint_id"])
        return selectors.delivery_list(endpoint=endpoint)

    @extend_schema(operation_id="webhook_deliveries_list", responses={200: DeliveryOutput(many=True), 404: NOT_FOUND})
    def get(self, request: Request, endpoint_id: int) -> Response:
        return self.paginated(lambda page: [delivery_data(delivery) for delivery in page], DeliveryOutput)


class DeliveryRedeliverApi(ViewerApi):
    """Send a delivery again."""

    @extend_schema(
        operation_id="webhook_deliveries_redeliver",
        request=None,
        responses={202: None, **error_responses(409), 404: NOT_FOUND},
        description="A delivered delivery is sent once more, now, with the same `webhook-id`; a pending one "
        "is made due now and still goes in its turn. 409 while the endpoint is disabled.",
    )
    def post(self, request: Request, endpoint_id: int, delivery_id: int) -> Response:
        endpoint = selectors.endpoint_get_for_staff(viewer=self.viewer, endpoint_id=endpoint_id)
        delivery = selectors.delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        services.delivery_redeliver(viewer=self.viewer, delivery=delivery)
        return Response(status=status.HTTP_202_ACCEPTED)
