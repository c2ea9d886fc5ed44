"""Who a browser session belongs to, for what reads it outside a request (the dashboard socket).

Pages sign people in with Django's sessions (``chalkboard.web``). A session vouches for its user while it
exists (signing out deletes it; it expires), the user is active, and the user's password is the one the
session was opened with (Django keeps a hash of it in the session: a changed password ends every session).
"""

from __future__ import annotations

from collections.abc import Collection
from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare

from chalkboard.accounts.models import User

SESSION_CREDENTIAL = "session:"


def session_users(keys: Collection[str]) -> dict[str, int]:
    """For each session key that still vouches for its user (see the module docstring), that user's id."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    claims: dict[str, tuple[int, str]] = {}
    for key in keys:
        data = store(session_key=key).load()
        user_id, password_hash = data.get(SESSION_KEY), data.get(HASH_SESSION_KEY)
        if user_id is not None and password_hash:
            claims[key] = (int(user_id), str(password_hash))
    users = User.objects.filter(pk__in={user_id for user_id, _ in claims.values()}, is_active=True)
    hashes = {user.pk: user.get_session_auth_hash() for user in users}
    return {
        key: user_id
        for key, (user_id, password_hash) in claims.items()
        if user_id in hashes and constant_time_compare(password_hash, hashes[user_id])
    }
