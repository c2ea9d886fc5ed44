"""How an invitation is shown: to the school that sent it and to the person it invites. Never the token."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from chalkboard.invitations.models import Invitation, InvitationStatus
from chalkboard.schools.models import Role


class InvitationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    school_id = serializers.IntegerField()
    school_name = serializers.CharField()
    email = serializers.EmailField(help_text="The address invited, as the school wrote it (lower-cased).")
    role = serializers.ChoiceField(choices=Role.choices)
    status = serializers.ChoiceField(choices=InvitationStatus.choices)
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


def invitation_data(invitation: Invitation) -> dict[str, Any]:
    """The same fields whoever the address belongs to: nothing here comes from an account."""
    return {
        "id": invitation.pk,
        "school_id": invitation.school_id,
        "school_name": invitation.school.name,
        "email": invitation.email,
        "role": invitation.role,
        "status": invitation.status_at(timezone.now()),
        "expires_at": invitation.expires_at,
        "created_at": invitation.created_at,
    }
