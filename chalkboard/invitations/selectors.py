"""Reads of invitations: the invitee's own, by their email; a school's, for its staff."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from chalkboard.common.errors import NotFound
from chalkboard.invitations.models import Invitation
from chalkboard.schools.access import Action, Viewer
from chalkboard.schools.models import School


def invitation_list_for_invitee(*, viewer: Viewer) -> QuerySet[Invitation]:
    """The pending invitations addressed to the viewer's email."""
    return (
        Invitation.objects.filter(
            email=viewer.user.email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .select_related("school")
        .order_by("id")
    )


def invitation_get_for_invitee(*, viewer: Viewer, invitation_id: int) -> Invitation:
    """An invitation addressed to the viewer, whatever its state; anyone else's is a 404, like a missing one."""
    invitation = Invitation.objects.filter(pk=invitation_id, email=viewer.user.email).select_related("school").first()
    if invitation is None:
        raise NotFound()
    return invitation


def invitation_list_for_school(*, viewer: Viewer, school: School) -> QuerySet[Invitation]:
    """Every invitation of the school, newest first. Its owners and admins only (403 for other members)."""
    viewer.require(Action.MEMBERS_MANAGE, school.pk)
    return Invitation.objects.filter(school=school).select_related("school").order_by("-id")


def invitation_get_for_school(*, viewer: Viewer, school: School, invitation_id: int) -> Invitation:
    invitation = invitation_list_for_school(viewer=viewer, school=school).filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound()
    return invitation
