"""Schools, their members, subjects and skills over HTTP. Thin: parse, call a selector or a service, present."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from chalkboard.common.api import IdField, NamedOutput, error_responses
from chalkboard.invitations.serializers import InvitationOutput, invitation_data
from chalkboard.invitations.services import invitation_create
from chalkboard.schools import selectors, services
from chalkboard.schools.access import Action, Viewer, viewer_of
from chalkboard.schools.filters import MembershipFilter, SchoolFilter, SubjectFilter
from chalkboard.schools.models import (
    DEFAULT_LATE_CLAIM_DAYS,
    DEFAULT_OVERRUN_MINUTES,
    DEFAULT_PAID_AMEND_DAYS,
    MAX_OVERRUN_MINUTES,
    MAX_REVIEW_DAYS,
    Membership,
    Role,
    School,
    Subject,
)

# --- Shared by the people APIs. --------------------------------------------------------------------


class ViewerApi(GenericAPIView):
    """An API view that knows who is asking, with all their roles (``self.viewer``)."""

    @property
    def viewer(self) -> Viewer:
        return viewer_of(self.request)


class ScopedListApi(ViewerApi):
    """A paginated, filterable list over a viewer-scoped selector."""

    model: type[Model]

    def scoped_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator only needs the model
            return self.model._default_manager.none()
        return self.scoped_queryset()

    def paginated(
        self, present: Callable[[Iterable[Any]], list[dict[str, Any]]], output: type[serializers.Serializer]
    ) -> Response:
        """One page of the filtered list, each row built by ``present`` and shaped by ``output``."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assert page is not None  # noqa: S101 (narrows the type: every list here is paginated)  # nosec B101
        return self.get_paginated_response(output(present(page), many=True).data)


def parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- Schools. --------------------------------------------------------------------------------------


LATE_CLAIM_HELP = (
    "Pay a teacher claims (completing, marking a no-show, or amending upwards) more than this many days after "
    "the session started is held for review by the school's owners and admins."
)
OVERRUN_HELP = "Pay for more than this many minutes beyond the planned duration is held for review."
PAID_AMEND_HELP = "Days after its first payout during which a completed session may still be amended (then 409)."


def _bound(high: int, help_text: str, **kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=high, help_text=help_text, **kwargs)


class SchoolOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    timezone = serializers.CharField()
    currency = serializers.CharField()
    no_show_billable = serializers.BooleanField()
    late_claim_days = serializers.IntegerField(help_text=LATE_CLAIM_HELP)
    overrun_minutes = serializers.IntegerField(help_text=OVERRUN_HELP)
    paid_amend_days = serializers.IntegerField(help_text=PAID_AMEND_HELP)
    roles = serializers.ListField(
        child=serializers.CharField(), help_text="My roles here: owner, admin, teacher, student, guardian."
    )


class SchoolCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    timezone = serializers.CharField(max_length=64, help_text="IANA time zone, e.g. Europe/Lisbon.")
    currency = serializers.CharField(max_length=3, default="EUR", help_text="ISO 4217 code, e.g. EUR.")
    no_show_billable = serializers.BooleanField(default=True)
    late_claim_days = _bound(MAX_REVIEW_DAYS, LATE_CLAIM_HELP, default=DEFAULT_LATE_CLAIM_DAYS)
    overrun_minutes = _bound(MAX_OVERRUN_MINUTES, OVERRUN_HELP, default=DEFAULT_OVERRUN_MINUTES)
    paid_amend_days = _bound(MAX_REVIEW_DAYS, PAID_AMEND_HELP, default=DEFAULT_PAID_AMEND_DAYS)


class SchoolUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    currency = serializers.CharField(max_length=3, required=False)
    no_show_billable = serializers.BooleanField(required=False)
    late_claim_days = _bound(MAX_REVIEW_DAYS, LATE_CLAIM_HELP, required=False)
    overrun_minutes = _bound(MAX_OVERRUN_MINUTES, OVERRUN_HELP, required=False)
    paid_amend_days = _bound(MAX_REVIEW_DAYS, PAID_AMEND_HELP, required=False)


def _school_data(school: School, roles: Iterable[str]) -> dict[str, Any]:
    return {
        "id": school.pk,
        "name": school.name,
        "timezone": school.timezone,
        "currency": school.currency,
        "no_show_billable": school.no_show_billable,
        "late_claim_days": school.late_claim_days,
        "overrun_minutes": school.overrun_minutes,
        "paid_amend_days": school.paid_amend_days,
        "roles": sorted(roles),
    }


class SchoolListApi(ScopedListApi):
    """The schools I belong to, with my roles in each; or found a new school."""

    model = School
    filterset_class = SchoolFilter

    def scoped_queryset(self) -> QuerySet[School]:
        return selectors.school_list(viewer=self.viewer)

    @extend_schema(operation_id="schools_list", responses=SchoolOutput(many=True))
    def get(self, request: Request) -> Response:
        viewer = self.viewer
        return self.paginated(lambda page: [_school_data(s, viewer.roles_in(s.pk)) for s in page], SchoolOutput)

    @extend_schema(
        operation_id="schools_create",
        request=SchoolCreateInput,
        responses={201: SchoolOutput, **error_responses(400)},
        description="Any signed-in user may found a school; they become its owner.",
    )
    def post(self, request: Request) -> Response:
        data = parse(SchoolCreateInput, request.data)
        school = services.school_create(by=self.viewer.user, **data)
        return Response(SchoolOutput(_school_data(school, [Role.OWNER])).data, status=status.HTTP_201_CREATED)


class SchoolDetailApi(ViewerApi):
    """One school I belong to. Its owners and admins change it; only an owner deletes it."""

    @extend_schema(operation_id="schools_retrieve", responses={200: SchoolOutput, **error_responses(404)})
    def get(self, request: Request, school_id: int) -> Response:
        school = selectors.school_get_for_viewer(viewer=self.viewer, school_id=school_id)
        return Response(SchoolOutput(_school_data(school, self.viewer.roles_in(school.pk))).data)

    @extend_schema(
        operation_id="schools_partial_update",
        request=SchoolUpdateInput,
        responses={200: SchoolOutput, **error_responses(400, 403, 404)},
    )
    def patch(self, request: Request, school_id: int) -> Response:
        school = selectors.school_get_for_action(viewer=self.viewer, school_id=school_id, action=Action.SCHOOL_MANAGE)
        data = parse(SchoolUpdateInput, request.data)
        school = services.school_update(viewer=self.viewer, school=school, **data)
        return Response(SchoolOutput(_school_data(school, self.viewer.roles_in(school.pk))).data)

    @extend_schema(
        operation_id="schools_destroy",
        responses={204: None, **error_responses(403, 404, 409)},
        description="Owners only. A school with sessions (any history) is not deleted: 409.",
    )
    def delete(self, request: Request, school_id: int) -> Response:
        school = selectors.school_get_for_viewer(viewer=self.viewer, school_id=school_id)
        services.school_delete(viewer=self.viewer, school=school)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Members. --------------------------------------------------------------------------------------


class MemberUserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class MemberOutput(serializers.Serializer):
    id = serializers.IntegerField()
    school_id = serializers.IntegerField()
    user = MemberUserOutput()
    role = serializers.ChoiceField(choices=Role.choices)
    is_active = serializers.BooleanField()


class MemberCreateInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    full_name = serializers.CharField(
        max_length=150,
        required=False,
        default="",
        allow_blank=True,
        help_text="A suggestion, offered to the person if they make an account when accepting.",
    )
    role = serializers.ChoiceField(choices=Role.choices)


def _member_data(membership: Membership) -> dict[str, Any]:
    user = membership.user
    return {
        "id": membership.pk,
        "school_id": membership.school_id,
        "user": {"id": user.pk, "email": user.email, "full_name": user.full_name},
        "role": membership.role,
        "is_active": membership.is_active,
    }


class MemberListApi(ScopedListApi):
    """The school's memberships (owners and admins only); or give someone a role."""

    model = Membership
    filterset_class = MembershipFilter

    def scoped_queryset(self) -> QuerySet[Membership]:
        school = selectors.school_get_for_viewer(viewer=self.viewer, school_id=self.kwargs["school_id"])
        return selectors.membership_list(viewer=self.viewer, school=school)

    @extend_schema(
        operation_id="schools_members_list",
        responses={200: MemberOutput(many=True), **error_responses(403, 404)},
        description="Owners and admins only: another member of the school gets 403.",
    )
    def get(self, request: Request, school_id: int) -> Response:
        return self.paginated(lambda page: [_member_data(m) for m in page], MemberOutput)

    @extend_schema(
        operation_id="schools_members_create",
        request=MemberCreateInput,
        responses={201: InvitationOutput, **error_responses(400, 403, 404)},
        description="Invites the address to the role: nobody becomes a member until they accept "
        "(`/api/invitations/`). The answer is the same whether the address has an account or not, and says "
        "nothing of one. Only an owner invites `owner` or `admin`. `teacher` and `student` also make the "
        "teacher profile or the student record on acceptance.",
    )
    def post(self, request: Request, school_id: int) -> Response:
        school = selectors.school_get_for_action(viewer=self.viewer, school_id=school_id, action=Action.MEMBERS_MANAGE)
        data = parse(MemberCreateInput, request.data)
        invitation, _ = invitation_create(viewer=self.viewer, school=school, **data)
        return Response(InvitationOutput(invitation_data(invitation)).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(ViewerApi):
    """One membership of the school; DELETE deactivates it."""

    def _membership(self, school_id: int, membership_id: int) -> Membership:
        school = selectors.school_get_for_viewer(viewer=self.viewer, school_id=school_id)
        return selectors.membership_get_for_viewer(viewer=self.viewer, school=school, membership_id=membership_id)

    @extend_schema(operation_id="schools_members_retrieve", responses={200: MemberOutput, **error_responses(403, 404)})
    def get(self, request: Request, school_id: int, membership_id: int) -> Response:
        return Response(MemberOutput(_member_data(self._membership(school_id, membership_id))).data)

    @extend_schema(
        operation_id="schools_members_destroy",
        responses={204: None, **error_responses(403, 404, 409)},
        description="Deactivates the role. Only an owner removes `owner` or `admin`; the last active owner "
        "stays (409).",
    )
    def delete(self, request: Request, school_id: int, membership_id: int) -> Response:
        membership = self._membership(school_id, membership_id)
        services.membership_revoke(viewer=self.viewer, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Subjects and skills. --------------------------------------------------------------------------


class SubjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    school_id = serializers.IntegerField()
    name = serializers.CharField()
    skills = NamedOutput(many=True)


class SubjectCreateInput(serializers.Serializer):
    school_id = IdField()
    name = serializers.CharField(max_length=100)
    skills = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=100, required=False, default=list
    )


class SubjectUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)


class SkillCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class SkillCreatedOutput(NamedOutput):
    subject_id = serializers.IntegerField()


def _subject_data(subject: Subject) -> dict[str, Any]:
    return {
        "id": subject.pk,
        "school_id": subject.school_id,
        "name": subject.name,
        "skills": [{"id": skill.pk, "name": skill.name} for skill in subject.skills.all()],
    }


class SubjectListApi(ScopedListApi):
    """The subjects of my schools, with their skills; or add one (owners and admins)."""

    model = Subject
    filterset_class = SubjectFilter

    def scoped_queryset(self) -> QuerySet[Subject]:
        return selectors.subject_list(viewer=self.viewer)

    @extend_schema(operation_id="subjects_list", responses=SubjectOutput(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated(lambda page: [_subject_data(s) for s in page], SubjectOutput)

    @extend_schema(
        operation_id="subjects_create",
        request=SubjectCreateInput,
        responses={201: SubjectOutput, **error_responses(400, 403)},
    )
    def post(self, request: Request) -> Response:
        data = parse(SubjectCreateInput, request.data)
        school = selectors.school_for_action(
            viewer=self.viewer, school_id=data.pop("school_id"), action=Action.SUBJECTS_MANAGE
        )
        subject = services.subject_create(viewer=self.viewer, school=school, **data)
        subject = selectors.subject_get_for_viewer(viewer=self.viewer, subject_id=subject.pk)
        return Response(SubjectOutput(_subject_data(subject)).data, status=status.HTTP_201_CREATED)


class SubjectDetailApi(ViewerApi):
    """One subject of a school I belong to. Its owners and admins rename or delete it."""

    @extend_schema(operation_id="subjects_retrieve", responses={200: SubjectOutput, **error_responses(404)})
    def get(self, request: Request, subject_id: int) -> Response:
        return Response(
            SubjectOutput(
                _subject_data(selectors.subject_get_for_viewer(viewer=self.viewer, subject_id=subject_id))
            ).data
        )

    @extend_schema(
        operation_id="subjects_partial_update",
        request=SubjectUpdateInput,
        responses={200: SubjectOutput, **error_responses(400, 403, 404)},
    )
    def patch(self, request: Request, subject_id: int) -> Response:
        subject = selectors.subject_get_for_action(
            viewer=self.viewer, subject_id=subject_id, action=Action.SUBJECTS_MANAGE
        )
        data = parse(SubjectUpdateInput, request.data)
        services.subject_update(viewer=self.viewer, subject=subject, **data)
        return Response(SubjectOutput(_subject_data(subject)).data)

    @extend_schema(
        operation_id="subjects_destroy",
        responses={204: None, **error_responses(403, 404, 409)},
        description="A subject that sessions or assessments refer to is not deleted: 409.",
    )
    def delete(self, request: Request, subject_id: int) -> Response:
        subject = selectors.subject_get_for_action(
            viewer=self.viewer, subject_id=subject_id, action=Action.SUBJECTS_MANAGE
        )
        services.subject_delete(viewer=self.viewer, subject=subject)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SkillCreateApi(ViewerApi):
    """Add a skill to a subject (owners and admins)."""

    @extend_schema(
        operation_id="subjects_skills_create",
        request=SkillCreateInput,
        responses={201: SkillCreatedOutput, **error_responses(400, 403, 404)},
    )
    def post(self, request: Request, subject_id: int) -> Response:
        subject = selectors.subject_get_for_action(
            viewer=self.viewer, subject_id=subject_id, action=Action.SUBJECTS_MANAGE
        )
        data = parse(SkillCreateInput, request.data)
        skill = services.skill_create(viewer=self.viewer, subject=subject, **data)
        body = {"id": skill.pk, "name": skill.name, "subject_id": subject.pk}
        return Response(SkillCreatedOutput(body).data, status=status.HTTP_201_CREATED)
