from __future__ import annotations

from datetime import datetime

from django.contrib.auth import authenticate
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from knox.models import AuthToken

from chalkboard.accounts.models import User
from chalkboard.common.errors import ValidationFailed

INVALID_CREDENTIALS = "Unable to log in with these credentials."


@sensitive_variables("password")
def user_authenticate(*, email: str, password: str) -> User:
    """The active user with these credentials. Unknown email and wrong password answer the same."""
    user = authenticate(username=email.strip().lower(), password=password)
    if user is None or not user.is_active:
        raise ValidationFailed(INVALID_CREDENTIALS, code="invalid_credentials")
    return user


@sensitive_variables("token")
def token_create(*, user: User) -> tuple[str, datetime | None]:
    instance, token = AuthToken.objects.create(user=user)
    return token, instance.expiry


def token_revoke(*, token: AuthToken) -> None:
    token.delete()


def token_purge_expired() -> int:
    deleted, _ = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return deleted
