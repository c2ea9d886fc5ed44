"""Shared by the school and people API tests: every role of ``world``, plus outsiders."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from chalkboard.accounts.models import User
from tests.conftest import SchoolWorld, client_for

# ``outsider`` is the owner of ``other_world``: a member of another school with every right there.
ROLES = (
    "owner",
    "admin",
    "teacher",
    "other_teacher",
    "student",
    "guardian",
    "other_guardian",
    "outsider",
    "anonymous",
)
STAFF_ROLES = ("owner", "admin")
NON_STAFF_MEMBERS = ("teacher", "other_teacher", "student", "guardian", "other_guardian")

# The queries every authenticated request makes before its view runs: the token with its user, the viewer's roles.
AUTH_QUERIES = 2


def user_for(role: str, world: SchoolWorld, other_world: SchoolWorld) -> User | None:
    if role == "anonymous":
        return None
    if role == "outsider":
        return other_world.owner
    return world.user(role)


def statuses(
    world: SchoolWorld, other_world: SchoolWorld, call: Callable[[Any], Any], roles: Iterable[str] = ROLES
) -> dict[str, int]:
    """The status each role gets for ``call(client)``. Compare the whole table at once, so a failure shows all."""
    return {role: call(client_for(user_for(role, world, other_world))).status_code for role in roles}


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def accept_invitation(email: str, *, school_id: int | None = None) -> User:
    """The person at ``email`` accepts the latest open invitation to it (of ``school_id`` when given), signed
    in; an address with no account gets one first, as accepting with the mailed token would make."""
    from chalkboard.invitations.models import Invitation
    from chalkboard.invitations.services import invitation_accept
    from tests.factories import UserFactory

    address = email.strip().lower()
    invitations = Invitation.objects.filter(email=address, accepted_at__isnull=True, revoked_at__isnull=True)
    if school_id is not None:
        invitations = invitations.filter(school_id=school_id)
    user = User.objects.filter(email=address).first() or UserFactory(email=address)
    invitation_accept(invitation=invitations.latest("id"), user=user)
    return user
