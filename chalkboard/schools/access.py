"""The one place that decides what a user may do in a school.

A ``Viewer`` is built once per request from *all* of the user's active memberships (one query). Every
selector takes the viewer first and scopes by it before anything else; every object is fetched through
an access function that answers 404 alike for "does not exist" and "not yours". Nothing here ever picks
"the first membership".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cached_property
from typing import Any

from chalkboard.accounts.models import User
from chalkboard.common.cache import cached_versioned, user_scope
from chalkboard.common.errors import Forbidden
from chalkboard.schools.models import Membership, Role

STAFF = frozenset({Role.OWNER, Role.ADMIN})


class Action(StrEnum):
    """What one may do in a school as a whole. Object-level rules (own sessions, own students) build on these."""

    SCHOOL_VIEW = "school.view"
    SCHOOL_MANAGE = "school.manage"
    MEMBERS_MANAGE = "members.manage"
    PEOPLE_MANAGE = "people.manage"
    SUBJECTS_MANAGE = "subjects.manage"
    SESSIONS_MANAGE_ALL = "sessions.manage_all"
    SESSIONS_MANAGE_OWN = "sessions.manage_own"
    EARNINGS_MANAGE = "earnings.manage"
    NOTES_VIEW_ADMIN = "notes.view_admin"
    WEBHOOKS_MANAGE = "webhooks.manage"


POLICY: dict[Action, frozenset[str]] = {
    Action.SCHOOL_VIEW: frozenset(Role.values),
    Action.SCHOOL_MANAGE: STAFF,
    Action.MEMBERS_MANAGE: STAFF,
    Action.PEOPLE_MANAGE: STAFF,
    Action.SUBJECTS_MANAGE: STAFF,
    Action.SESSIONS_MANAGE_ALL: STAFF,
    Action.SESSIONS_MANAGE_OWN: frozenset({Role.TEACHER}),
    Action.EARNINGS_MANAGE: STAFF,
    Action.NOTES_VIEW_ADMIN: STAFF,
    Action.WEBHOOKS_MANAGE: STAFF,
}


# A safety net only: every membership write bumps the user's version, so roles are fresh at once.
ROLES_TIMEOUT = 300


def roles_load(user_id: int) -> dict[int, frozenset[str]]:
    """The user's active roles in every school, from the database."""
    return roles_load_many([user_id]).get(user_id, {})


def roles_load_many(user_ids: Iterable[int]) -> dict[int, dict[int, frozenset[str]]]:
    """``roles_load`` for several users in one query; a user with no active role is left out."""
    grouped: dict[int, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    memberships = Membership.objects.filter(user_id__in=list(user_ids), is_active=True)
    for user_id, school_id, role in memberships.values_list("user_id", "school_id", "role"):
        grouped[user_id][school_id].add(role)
    return {
        user_id: {school_id: frozenset(roles) for school_id, roles in schools.items()}
        for user_id, schools in grouped.items()
    }


class Viewer:
    """A user and their roles in every school, as seen by one request."""

    def __init__(self, user: User, roles: dict[int, frozenset[str]]):
        self.user = user
        self.roles = roles

    @classmethod
    def for_user(cls, user: User, *, found: Mapping[str, Any] | None = None) -> Viewer:
        """The user's roles, from the cache when it has them (every service that writes memberships bumps
        ``user_scope`` on commit, through ``schools.services.memberships_changed``).
        ``found``: the cache's answer for ``viewer_cache_keys``, when a caller already read them."""
        if not user.is_active:
            return cls(user, {})
        key, scope = viewer_cache_keys(user.pk)
        roles = cached_versioned(
            key, scopes=[scope], build=lambda: roles_load(user.pk), timeout=ROLES_TIMEOUT, found=found
        )
        return cls(user, roles)

    @property
    def user_id(self) -> int:
        return self.user.pk

    def roles_in(self, school_id: int) -> frozenset[str]:
        return self.roles.get(school_id, frozenset())

    def has_role(self, school_id: int, *roles: str) -> bool:
        return not self.roles_in(school_id).isdisjoint(roles)

    def can(self, action: Action, school_id: int) -> bool:
        return not self.roles_in(school_id).isdisjoint(POLICY[action])

    def require(self, action: Action, school_id: int) -> None:
        """Refuse with 403. Call only once the caller may see the object (else answer 404)."""
        if not self.can(action, school_id):
            raise Forbidden()

    def schools_where(self, *roles: str) -> list[int]:
        return sorted(school_id for school_id, held in self.roles.items() if not held.isdisjoint(roles))

    @property
    def school_ids(self) -> list[int]:
        return sorted(self.roles)

    def is_staff_of(self, school_id: int) -> bool:
        return self.has_role(school_id, *STAFF)

    def teaches_in(self, school_id: int) -> bool:
        return self.has_role(school_id, Role.TEACHER)

    @property
    def teacher_id(self) -> int:
        """A teacher's id is their user id (see ``people.Teacher``)."""
        return self.user.pk

    @cached_property
    def student_ids(self) -> frozenset[int]:
        """The viewer's own student profiles, in schools where they are an active student."""
        schools = self.schools_where(Role.STUDENT)
        if not schools:
            return frozenset()
        # Student records belong to the apps above: reached through the user's relation, not an import.
        profiles = self.user.student_profiles.filter(school_id__in=schools, is_active=True)
        return frozenset(profiles.values_list("id", flat=True))

    @cached_property
    def ward_ids(self) -> frozenset[int]:
        """The students the viewer is a guardian of, in schools where they are an active guardian."""
        schools = self.schools_where(Role.GUARDIAN)
        if not schools:
            return frozenset()
        links = self.user.wards.filter(student__school_id__in=schools)
        return frozenset(links.values_list("student_id", flat=True))

    @property
    def own_and_ward_student_ids(self) -> frozenset[int]:
        return self.student_ids | self.ward_ids


def viewer_cache_keys(user_id: int) -> tuple[str, str]:
    """The cache keys of a user's roles: the entry, and the version it is checked against."""
    return f"viewer:{user_id}", user_scope(user_id)


def viewer_of(request: object, *, found: Mapping[str, Any] | None = None) -> Viewer:
    """The request's viewer, built once per request (``found``: as in ``Viewer.for_user``)."""
    viewer: Viewer | None = getattr(request, "_chalkboard_viewer", None)
    if viewer is None:
        viewer = Viewer.for_user(request.user, found=found)  # type: ignore[attr-defined]
        request._chalkboard_viewer = viewer  # type: ignore[attr-defined]
    return viewer
