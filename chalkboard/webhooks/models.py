"""Webhooks: a school's endpoints, the events each is owed (deliveries, in the school's commit order) and
every attempt to deliver one (docs/webhooks.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from chalkboard.common.models import TimeStampedModel
from chalkboard.schools.models import School


class Endpoint(TimeStampedModel):
    """A receiver of the school's events. ``cursor`` is the id of the last event of the school that was
    planned for it (every later one is still to plan); its deliveries go out one at a time, oldest first.
    The secret signs them; during a rotation's overlap the previous one signs too, until it expires."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text="The event types delivered; empty: all of them.")
    secret = models.CharField(max_length=64, help_text="whsec_ and the key in base64 (Standard Webhooks).")
    previous_secret = models.CharField(max_length=64, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    vouched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        help_text="The owner or admin it sends on the word of: who made it, or last enabled it or changed its URL. "
        "It is disabled when they no longer own or run the school.",
    )
    cursor = models.BigIntegerField(default=0)
    wake_at = models.DateTimeField(null=True, blank=True, help_text="When a job will next look for a retry due.")

    class Meta:
        indexes = [models.Index(fields=["school", "id"], name="webhook_endpoint_school")]

    def __str__(self) -> str:
        return f"webhook endpoint {self.pk} @ {self.school_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting for its turn, or for its next attempt"
    DELIVERED = "delivered", "The endpoint answered 2xx"


class Delivery(models.Model):
    """One event owed to one endpoint: the exact body it is signed and sent with on every attempt (the event
    may be pruned from the log meanwhile), and when it is next tried."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.BigIntegerField()
    event_type = models.CharField(max_length=32)
    payload = models.TextField(help_text="The JSON body, exactly as signed and sent.")
    status = models.CharField(max_length=9, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    failed_attempts = models.PositiveIntegerField(
        default=0, help_text="Failed scheduled attempts since it was last made due: its place in the retry schedule."
    )
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once_per_event"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status"),
        ]
        indexes = [
            models.Index(
                fields=["endpoint", "event_id"],
                condition=Q(status=DeliveryStatus.PENDING),
                name="webhook_delivery_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery of event {self.event_id} to endpoint {self.endpoint_id}"

    @property
    def message_id(self) -> str:
        """The ``webhook-id``: the same on every attempt, so a receiver can drop a repeat."""
        return f"evt_{self.event_id}"


class AttemptOutcome(models.TextChoices):
    IN_FLIGHT = "in_flight", "Sent; no answer recorded (still running, or its worker died)"
    DELIVERED = "delivered", "Answered 2xx"
    HTTP_ERROR = "http_error", "Answered with another status"
    TIMEOUT = "timeout", "No answer in time"
    CONNECTION_ERROR = "connection_error", "Could not connect or send"
    REFUSED = "refused", "Not sent: the address is not allowed"


class AttemptTrigger(models.TextChoices):
    SCHEDULED = "scheduled", "Its turn, or its retry"
    MANUAL = "manual", "A redelivery asked for by the school's staff"


class Attempt(models.Model):
    """One try at one delivery, as the delivery log shows it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    trigger = models.CharField(max_length=9, choices=AttemptTrigger.choices, default=AttemptTrigger.SCHEDULED)
    started_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.IN_FLIGHT)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=1024, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["delivery", "id"], name="webhook_attempt_delivery")]

    def __str__(self) -> str:
        return f"attempt {self.pk} of delivery {self.delivery_id}: {self.outcome}"
