from __future__ import annotations

from typing import Any

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chalkboard.accounts.lockout import login_address_take, login_attempt_succeeded, login_attempt_take
from chalkboard.accounts.services import token_create, token_revoke, user_authenticate
from chalkboard.common.api import NOT_AUTHENTICATED, error_response
from chalkboard.common.throttling import Quota, client_address, quota_take
from chalkboard.schools.access import viewer_of
from chalkboard.schools.models import Membership


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class LoginInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class LoginOutput(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    user = UserOutput()


# Django's error reports (DEBUG pages, mail to admins) show neither the password nor the token issued.
@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class LoginApi(APIView):
    """Exchange email and password for a bearer token."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema(
        request=LoginInput,
        responses={200: LoginOutput, 400: error_response(400, "Invalid credentials"), 429: None},
        auth=[],
    )
    @sensitive_variables("data", "token")
    def post(self, request: Request) -> Response:
        address = client_address(request)
        refused = login_address_take(address=address)
        if refused is not None:
            return too_many(refused)
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        email = data.validated_data["email"].strip().lower()
        # Counted before the password is checked, per account and address (chalkboard.accounts.lockout).
        attempt = login_attempt_take(email=email, address=address)
        if attempt.refused is not None:
            return too_many(attempt.refused)
        user = user_authenticate(email=email, password=data.validated_data["password"])
        login_attempt_succeeded(attempt)
        quota = quota_take(scope="tokens_issued", ident=f"u{user.pk}")
        if quota is not None and not quota.allowed:
            return too_many(quota)
        token, expires_at = token_create(user=user)
        return Response(LoginOutput({"token": token, "expires_at": expires_at, "user": user}).data)


def too_many(quota: Quota) -> Response:
    body = {"status": 429, "code": "throttled", "message": f"Too many attempts. Try again in {quota.reset} seconds."}
    return Response(body, status=429, headers=quota.headers())


class TokenInfoOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True)


class TokenInfoApi(APIView):
    """Whether the token this request carries is valid, and until when. Costs only the token lookup."""

    @extend_schema(responses={200: TokenInfoOutput, 401: NOT_AUTHENTICATED})
    def get(self, request: Request) -> Response:
        return Response({"user_id": request.user.pk, "expires_at": request.auth.expiry})  # type: ignore[union-attr]


class LogoutApi(APIView):
    """Revoke the token this request was made with."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MembershipOutput(serializers.Serializer):
    school_id = serializers.IntegerField()
    school_name = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())


class MeOutput(UserOutput):
    teacher_id = serializers.IntegerField(allow_null=True)
    student_ids = serializers.ListField(child=serializers.IntegerField())
    memberships = MembershipOutput(many=True)


class MeApi(APIView):
    """Who I am, and my roles in each school."""

    @extend_schema(responses=MeOutput)
    def get(self, request: Request) -> Response:
        viewer = viewer_of(request)
        user = viewer.user
        names = dict(Membership.objects.filter(user=user, is_active=True).values_list("school_id", "school__name"))
        memberships: list[dict[str, Any]] = [
            {"school_id": school_id, "school_name": names.get(school_id, ""), "roles": sorted(viewer.roles[school_id])}
            for school_id in viewer.school_ids
        ]
        teaches = any(viewer.teaches_in(school_id) for school_id in viewer.school_ids)
        body = {
            "id": user.pk,
            "email": user.email,
            "full_name": user.full_name,
            "teacher_id": viewer.teacher_id if teaches else None,
            "student_ids": sorted(viewer.student_ids),
            "memberships": memberships,
        }
        return Response(MeOutput(body).data)
