"""Invitations: the only way a school adds a person.

Inviting names an email and a role; it never looks an account up, so its answer, and the work behind it,
are the same whether the address belongs to someone or not. Nobody becomes a member until they accept:
signed in, as the user whose email the invitation names, or, for an address with no account yet, with the
secret token mailed to it, choosing their password then. The token is stored as its SHA-256 only.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from chalkboard.accounts.models import User
from chalkboard.activity.services import activity_record
from chalkboard.common.errors import Conflict, Forbidden, ValidationFailed
from chalkboard.common.secrets_digest import secret_digest
from chalkboard.invitations.models import Invitation, InvitationStatus
from chalkboard.people.services import guardian_join, student_join, teacher_join
from chalkboard.schools.access import STAFF, Action, Viewer
from chalkboard.schools.models import Membership, Role, School
from chalkboard.schools.services import membership_ensure, normalize_email, school_audit

logger = logging.getLogger(__name__)

ONLY_OWNER_INVITES_STAFF = "Only an owner may invite owners and admins."
NOT_PENDING: dict[str, str] = {
    InvitationStatus.ACCEPTED: "This invitation has already been accepted.",
    InvitationStatus.REVOKED: "This invitation was withdrawn.",
    InvitationStatus.EXPIRED: "This invitation has expired.",
}
INVITER_GONE = "Whoever sent this invitation may no longer invite to this role: ask the school for a new one."
TOKEN_INVALID = "This invitation token is not valid, or no longer."  # noqa: S105  # nosec B105 - a message
SIGN_IN_TO_ACCEPT = "An account already uses this address: sign in and accept the invitation from there."

# A token carries 256 bits; only its hash is stored, so the table alone accepts nothing.
TOKEN_BYTES = 32


def _may_invite(*, roles: frozenset[str], role: str) -> bool:
    return Role.OWNER in roles if role in STAFF else not roles.isdisjoint(STAFF)


@transaction.atomic
def invitation_create(
    *,
    viewer: Viewer,
    school: School,
    email: str,
    role: str,
    full_name: str = "",
    details: Mapping[str, Any] | None = None,
) -> tuple[Invitation, str]:
    """Invite whoever controls ``email`` to ``role`` in the school; returns the invitation and its secret
    token, which goes to the address only (mailed on commit), never to the inviter. Owners invite to any
    role, admins to teacher, student and guardian. An earlier pending invitation of the same address to the
    same role is withdrawn: one link works at a time."""
    viewer.require(Action.MEMBERS_MANAGE, school.pk)
    if not _may_invite(roles=viewer.roles_in(school.pk), role=role):
        raise Forbidden(ONLY_OWNER_INVITES_STAFF)
    now = timezone.now()
    email = normalize_email(email)
    Invitation.objects.filter(
        school=school, email=email, role=role, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now, updated_at=now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation = Invitation.objects.create(
        school=school,
        email=email,
        role=role,
        full_name=full_name.strip(),
        details=dict(details or {}),
        invited_by=viewer.user,
        token_hash=secret_digest(token),
        expires_at=now + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    activity_record(
        actor=viewer.user,
        verb="invitation.created",
        object_type="invitation",
        object_id=invitation.pk,
        school_id=school.pk,
        data={"role": role},
    )
    transaction.on_commit(lambda: invitation_send(invitation=invitation, token=token))
    return invitation, token


@sensitive_variables("token", "body")
def invitation_send(*, invitation: Invitation, token: str) -> None:
    """Mail the token to the invited address. The same letter whether an account uses it or not: it says
    how to accept either way. A mail server that fails loses this letter only (the school may invite again)."""
    body = (
        f"You are invited to join {invitation.school.name} as {invitation.role}.\n\n"
        f"If you have a Chalkboard account with this address, sign in and accept it from your invitations "
        f"(POST /api/invitations/{invitation.pk}/accept/).\n"
        f"If you have none, create it while accepting: POST /api/invitations/accept/ with this token, your "
        f"name and a password of your choice.\n\nToken: {token}\n\n"
        f"It expires at {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    try:
        send_mail(f"Invitation to {invitation.school.name}", body, None, [invitation.email])
    except OSError:
        logger.warning("invitation %s: the mail could not be sent", invitation.pk)


def _joins() -> dict[str, Callable[..., Any]]:
    return {Role.TEACHER: teacher_join, Role.STUDENT: student_join, Role.GUARDIAN: guardian_join}


def _inviter_still_may(invitation: Invitation) -> bool:
    """An invitation speaks for its inviter: it holds only while they may still invite to its role."""
    if invitation.invited_by_id is None:
        return False
    roles = frozenset(
        Membership.objects.filter(
            user_id=invitation.invited_by_id, school_id=invitation.school_id, is_active=True
        ).values_list("role", flat=True)
    )
    return _may_invite(roles=roles, role=invitation.role)


def _accept(*, invitation: Invitation, user: User) -> Invitation:
    status = invitation.status_at(timezone.now())
    if status != InvitationStatus.PENDING:
        raise Conflict(NOT_PENDING[status])
    if not _inviter_still_may(invitation):
        raise Conflict(INVITER_GONE)
    join = _joins().get(invitation.role)
    if join is None:
        membership_ensure(user=user, school=invitation.school, role=invitation.role)
    else:
        join(school=invitation.school, user=user, details=invitation.details)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    school_audit(
        actor=user,
        verb="invitation.accepted",
        object_type="invitation",
        object_id=invitation.pk,
        school_id=invitation.school_id,
        teacher_id=user.pk if invitation.role == Role.TEACHER else None,
        data={"role": invitation.role, "user_id": user.pk},
    )
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Invitation:
    """The signed-in invitee accepts (the caller found the invitation among those addressed to ``user``)."""
    invitation = Invitation.objects.select_for_update().select_related("school").get(pk=invitation.pk)
    return _accept(invitation=invitation, user=user)


@sensitive_variables("token", "password", "password_hash")
@transaction.atomic
def invitation_accept_with_token(*, token: str, password: str, full_name: str = "") -> tuple[Invitation, User]:
    """Accept with the mailed token, making the account of an address that has none, with the password its
    owner chooses now. An address that has an account accepts signed in instead: the token never sets the
    password of an existing account. The password is hashed first, whatever follows, so every answer costs
    the same work."""
    try:
        validate_password(password)
    except DjangoValidationError as error:
        raise ValidationFailed(error.messages[0], fields={"password": list(error.messages)}) from error
    password_hash = make_password(password)
    digest = secret_digest(token)
    invitation = Invitation.objects.select_for_update().select_related("school").filter(token_hash=digest).first()
    if invitation is None or not hmac.compare_digest(invitation.token_hash, digest):
        raise ValidationFailed(TOKEN_INVALID, fields={"token": [TOKEN_INVALID]})
    if invitation.status_at(timezone.now()) != InvitationStatus.PENDING:
        raise ValidationFailed(TOKEN_INVALID, fields={"token": [TOKEN_INVALID]})
    try:
        with transaction.atomic():
            user = User.objects.create(
                email=invitation.email, full_name=full_name.strip() or invitation.full_name, password=password_hash
            )
    except IntegrityError as error:
        raise Conflict(SIGN_IN_TO_ACCEPT) from error
    return _accept(invitation=invitation, user=user), user


@transaction.atomic
def invitation_revoke(*, viewer: Viewer, invitation: Invitation) -> Invitation:
    """Withdraw a pending invitation: owners any, admins those they could have sent."""
    if not _may_invite(roles=viewer.roles_in(invitation.school_id), role=invitation.role):
        raise Forbidden(ONLY_OWNER_INVITES_STAFF)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    status = invitation.status_at(timezone.now())
    if status != InvitationStatus.PENDING:
        raise Conflict(NOT_PENDING[status])
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])
    activity_record(
        actor=viewer.user,
        verb="invitation.revoked",
        object_type="invitation",
        object_id=invitation.pk,
        school_id=invitation.school_id,
        data={"role": invitation.role},
    )
    return invitation
