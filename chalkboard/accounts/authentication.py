from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework import exceptions

INVALID_TOKEN = "Invalid token."  # noqa: S105 (a message, not a secret)  # nosec B105


class BearerTokenAuthentication(TokenAuthentication):
    """Knox tokens (stored hashed, expiring, revocable) sent as ``Authorization: Bearer <token>``.

    Knox's own clean-up deletes the user's other expired tokens on every request, one more query each
    time; here an expired token is simply refused, and ``manage.py purge_tokens`` deletes old ones.

    A header whose bytes are not a token at all (not UTF-8, or beyond latin-1 when a proxy or client hands
    Django text) is refused like any wrong token: ``401``, never a crash in the token library.
    """

    def authenticate(self, request: Any) -> tuple[Any, AuthToken] | None:
        try:
            return super().authenticate(request)
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN) from error

    def authenticate_credentials(self, token: bytes) -> tuple[Any, AuthToken]:
        try:
            token.decode("utf-8")
        except UnicodeDecodeError as error:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN) from error
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        return auth_token.expiry is not None and auth_token.expiry < timezone.now()

    def validate_user(self, auth_token: AuthToken) -> tuple[Any, AuthToken]:
        if not auth_token.user.is_active:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN)
        return auth_token.user, auth_token


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents ``BearerTokenAuthentication`` in the OpenAPI schema."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A token from POST /api/auth/token/."}
