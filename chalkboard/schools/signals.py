"""Cache invalidation that must follow every membership write, whichever code path makes it.

Roles decide access, so their cache is bumped from the model's own save and delete, not left to each
service to remember. (Bulk ``update()`` bypasses this; the roles cache also expires within minutes.)
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from chalkboard.common.cache import school_scope, user_scope, versions_bump_on_commit
from chalkboard.schools.models import Membership


def _membership_changed(sender: type[Membership], instance: Membership, **kwargs: Any) -> None:
    versions_bump_on_commit([user_scope(instance.user_id), school_scope(instance.school_id)])


def connect() -> None:
    post_save.connect(_membership_changed, sender=Membership, dispatch_uid="membership_saved")
    post_delete.connect(_membership_changed, sender=Membership, dispatch_uid="membership_deleted")
