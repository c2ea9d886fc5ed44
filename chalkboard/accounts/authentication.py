from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework import exceptions


class BearerTokenAuthentication(TokenAuthentication):
    """Knox tokens (stored hashed, expiring, revocable) sent as ``Authorization: Bearer <token>``.

    Knox's own clean-up deletes the user's other expired tokens on every request, one more query each
    time; here an expired token is simply refused, and ``manage.py purge_tokens`` deletes old ones.
    """

    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        return auth_token.expiry is not None and auth_token.expiry < timezone.now()

    def validate_user(self, auth_token: AuthToken) -> tuple[Any, AuthToken]:
        if not auth_token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return auth_token.user, auth_token


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes ``BearerTokenAuthentication`` in the OpenAPI schema."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer"}
