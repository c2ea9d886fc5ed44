"""Invitations: how a school adds a person. Naming an email makes nobody a member; the person accepts."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from chalkboard.common.models import TimeStampedModel
from chalkboard.schools.models import Role, School


class InvitationStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Invitation(TimeStampedModel):
    """A school's offer of one role to whoever controls an email address.

    It names no account: it is made without looking one up, so it tells the school nothing about who the
    address belongs to. ``details`` holds what the school will record about the person on acceptance (its
    record of a teacher, a student's grade, a guardian's students), all of it the school's own. The secret
    token, mailed to the address, is stored as its SHA-256 only."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Role.choices)
    full_name = models.CharField(
        max_length=150, blank=True, help_text="The inviter's suggestion, for an account made on acceptance."
    )
    details = models.JSONField(default=dict, blank=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(role__in=Role.values), name="invitation_role_valid")]
        indexes = [models.Index(fields=["email", "school"], name="invitation_email_school")]

    def __str__(self) -> str:
        return f"{self.role} @ {self.school_id}"

    def status_at(self, now: datetime) -> str:
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.expires_at <= now:
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING
