"""Invitations over HTTP: the invitee's own list and acceptance, the token acceptance that makes an account,
and a school's list and withdrawal of the invitations it sent. Inviting itself is done by the endpoints
that add people (members, teachers, students, guardians)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chalkboard.accounts.apis import UserOutput, too_many
from chalkboard.accounts.lockout import login_address_take
from chalkboard.common.api import error_responses
from chalkboard.common.throttling import client_address
from chalkboard.invitations import selectors, services
from chalkboard.invitations.models import Invitation
from chalkboard.invitations.serializers import InvitationOutput, invitation_data
from chalkboard.schools.apis import ScopedListApi, ViewerApi, parse
from chalkboard.schools.selectors import school_get_for_viewer


class MyInvitationListApi(ScopedListApi):
    """The pending invitations addressed to my email."""

    model = Invitation

    def scoped_queryset(self) -> QuerySet[Invitation]:
        return selectors.invitation_list_for_invitee(viewer=self.viewer)

    @extend_schema(operation_id="invitations_list", responses=InvitationOutput(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated(lambda page: [invitation_data(i) for i in page], InvitationOutput)


class InvitationAcceptApi(ViewerApi):
    """Accept an invitation addressed to my email: I join the school in its role."""

    @extend_schema(
        operation_id="invitations_accept",
        request=None,
        responses={200: InvitationOutput, **error_responses(404, 409)},
        description="Only the user whose email the invitation names (anyone else: 404). An invitation already "
        "accepted, withdrawn, expired, or whose sender may no longer invite to its role: 409.",
    )
    def post(self, request: Request, invitation_id: int) -> Response:
        invitation = selectors.invitation_get_for_invitee(viewer=self.viewer, invitation_id=invitation_id)
        invitation = services.invitation_accept(invitation=invitation, user=self.viewer.user)
        return Response(InvitationOutput(invitation_data(invitation)).data)


class TokenAcceptInput(serializers.Serializer):
    token = serializers.CharField(max_length=200, trim_whitespace=False)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class TokenAcceptOutput(serializers.Serializer):
    invitation = InvitationOutput()
    user = UserOutput()


@method_decorator(sensitive_post_parameters("token", "password"), name="dispatch")
class InvitationTokenAcceptApi(APIView):
    """Accept with the token mailed to an address that has no account yet, creating it."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema(
        operation_id="invitations_accept_with_token",
        request=TokenAcceptInput,
        responses={201: TokenAcceptOutput, **error_responses(400, 409)},
        auth=[],
        description="Creates the account of the invited address with the password given, and accepts. An "
        "unknown, used, withdrawn or expired token: 400. An address that already has an account: 409 (sign "
        "in and accept from `/api/invitations/`). Limited per client address like logging in.",
    )
    @sensitive_variables("data")
    def post(self, request: Request) -> Response:
        refused = login_address_take(address=client_address(request))
        if refused is not None:
            return too_many(refused)
        data = parse(TokenAcceptInput, request.data)
        invitation, user = services.invitation_accept_with_token(**data)
        body = {"invitation": invitation_data(invitation), "user": user}
        return Response(TokenAcceptOutput(body).data, status=status.HTTP_201_CREATED)


class SchoolInvitationListApi(ScopedListApi):
    """The invitations the school sent, newest first (owners and admins)."""

    model = Invitation

    def scoped_queryset(self) -> QuerySet[Invitation]:
        school = school_get_for_viewer(viewer=self.viewer, school_id=self.kwargs["school_id"])
        return selectors.invitation_list_for_school(viewer=self.viewer, school=school)

    @extend_schema(
        operation_id="schools_invitations_list",
        responses={200: InvitationOutput(many=True), **error_responses(403, 404)},
    )
    def get(self, request: Request, school_id: int) -> Response:
        return self.paginated(lambda page: [invitation_data(i) for i in page], InvitationOutput)


class SchoolInvitationDetailApi(ViewerApi):
    """One invitation the school sent; DELETE withdraws it while it is pending."""

    def _invitation(self, school_id: int, invitation_id: int) -> Invitation:
        school = school_get_for_viewer(viewer=self.viewer, school_id=school_id)
        return selectors.invitation_get_for_school(viewer=self.viewer, school=school, invitation_id=invitation_id)

    @extend_schema(
        operation_id="schools_invitations_retrieve", responses={200: InvitationOutput, **error_responses(403, 404)}
    )
    def get(self, request: Request, school_id: int, invitation_id: int) -> Response:
        return Response(InvitationOutput(invitation_data(self._invitation(school_id, invitation_id))).data)

    @extend_schema(
        operation_id="schools_invitations_destroy",
        responses={204: None, **error_responses(403, 404, 409)},
        description="Withdraws a pending invitation (its token stops working). Admins withdraw only those "
        "they could send (not to owner or admin). One no longer pending: 409.",
    )
    def delete(self, request: Request, school_id: int, invitation_id: int) -> Response:
        services.invitation_revoke(viewer=self.viewer, invitation=self._invitation(school_id, invitation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
