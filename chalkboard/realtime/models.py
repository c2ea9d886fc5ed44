from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class EventType(models.TextChoices):
    SESSION_CREATED = "session.created"
    SESSION_UPDATED = "session.updated"
    SESSION_CANCELLED = "session.cancelled"
    SESSION_COMPLETED = "session.completed"
    ASSESSMENT_CREATED = "assessment.created"
    PROGRESS_UPDATED = "progress.updated"
    EARNINGS_UPDATED = "earnings.updated"


SESSION_EVENTS = frozenset(
    {EventType.SESSION_CREATED, EventType.SESSION_UPDATED, EventType.SESSION_CANCELLED, EventType.SESSION_COMPLETED}
)


class Event(models.Model):
    """The durable event log (outbox): written in the transaction of the change it describes, published
    after it commits, and kept so that a client that reconnects can catch up from the last id it saw."""

    type = models.CharField(max_length=32, choices=EventType.choices)
    school = models.ForeignKey(  # indexed by event_school_id
        "schools.School", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    teacher_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["school", "id"], name="event_school_id"),
            models.Index(fields=["teacher_id", "id"], name="event_teacher_id"),
        ]


class WebSocketTicket(models.Model):
    """A single-use, short-lived credential for opening the dashboard socket from a browser, which cannot set
    an ``Authorization`` header on a WebSocket handshake. Only its hash is stored, beside the digest of the
    bearer token it was issued from: a ticket is honoured only while that token is, so logging out kills it."""

    digest = models.CharField(max_length=64, primary_key=True, help_text="SHA-256 of the ticket, hex.")
    token_digest = models.CharField(max_length=128, help_text="The issuing bearer token's digest (knox).")
    expires_at = models.DateTimeField(db_index=True)
