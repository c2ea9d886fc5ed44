"""Teachers, students and guardians over HTTP. Thin: parse, call a selector or a service, present.

The school's owners and admins manage its people; a teacher reads the students they teach (and those
students' guardians) and their own profile; a student sees themselves and a guardian their children.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from chalkboard.accounts.models import User
from chalkboard.common.api import IdField, IdListField, NamedOutput, error_responses
from chalkboard.common.decimals import decimal_input
from chalkboard.invitations.serializers import InvitationOutput, invitation_data
from chalkboard.invitations.services import invitation_create
from chalkboard.people import selectors, services
from chalkboard.people.filters import AssignmentFilter, GuardianFilter, StudentFilter, TeacherFilter
from chalkboard.people.models import Student, Teacher, TeacherRate, TeachingAssignment
from chalkboard.schools.access import Action, Viewer
from chalkboard.schools.apis import ScopedListApi, ViewerApi, parse
from chalkboard.schools.models import Role, School
from chalkboard.schools.selectors import school_for_action

SCHOOL_PARAMETER = OpenApiParameter(
    "school", OpenApiTypes.INT, description="The school this change is about (or `school_id` in the body)."
)
SCHOOL_REQUIRED = "Name the school: `school_id` in the body or `?school=`."


def Money(**kwargs: Any) -> serializers.DecimalField:  # noqa: N802 - reads like the field classes it stands with
    """An hourly rate: a decimal string, not negative, that fits the rate's column (two decimal places)."""
    return decimal_input(TeacherRate, "hourly_rate", min_value=Decimal("0"), **kwargs)


class SchoolQuery(serializers.Serializer):
    school = IdField(required=False)


def _school_named(view: ViewerApi, data: dict[str, Any]) -> School:
    """The school a change is about, from ``school_id`` in the body or else ``?school=``, checked against what
    the viewer may do there: an unknown school is a 400 on the field, one where they may not manage people
    a 403."""
    school_id = data.pop("school_id", None)
    field = "school_id"
    if school_id is None:
        school_id = parse(SchoolQuery, view.request.query_params).get("school")
        field = "school"
    if school_id is None:
        raise serializers.ValidationError({"school_id": [SCHOOL_REQUIRED]})
    return school_for_action(viewer=view.viewer, school_id=school_id, action=Action.PEOPLE_MANAGE, field=field)


class PersonInput(serializers.Serializer):
    school_id = IdField()
    email = serializers.EmailField(max_length=254)
    full_name = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        default="",
        help_text="A suggestion, offered to the person if they make an account when accepting.",
    )


def _invite(view: ViewerApi, school: School, data: dict[str, Any], role: str, details: dict[str, Any]) -> Response:
    """Invite the address: the answer is the invitation, the same whoever the address belongs to."""
    invitation, _ = invitation_create(
        viewer=view.viewer, school=school, email=data["email"], full_name=data["full_name"], role=role, details=details
    )
    return Response(InvitationOutput(invitation_data(invitation)).data, status=status.HTTP_201_CREATED)


INVITES = (
    "Invites the address: nobody joins until they accept (`/api/invitations/`), and the answer (the invitation) "
    "is the same whether the address has an account or not. What the school records about them here is kept "
    "on the invitation and applied on acceptance."
)


# --- Teachers. -------------------------------------------------------------------------------------


def _school_for_record(view: ViewerApi, data: dict[str, Any], *, teacher: Teacher) -> School:
    """The school whose record of the teacher a change writes. Its staff write all of it; the teacher
    themselves only their bio there, in a school they teach in."""
    staff_fields = any(field in data for field in STAFF_FIELDS)
    action = selectors.teacher_record_action(viewer=view.viewer, teacher=teacher, staff_fields=staff_fields)
    if action == Action.PEOPLE_MANAGE:
        return _school_named(view, data)
    school_id = data.pop("school_id", None)
    if school_id is None:
        school_id = parse(SchoolQuery, view.request.query_params).get("school")
    if school_id is None:
        raise serializers.ValidationError({"school_id": [SCHOOL_REQUIRED]})
    return school_for_action(viewer=view.viewer, school_id=school_id, action=action)


class TeacherSchoolOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    bio = serializers.CharField(help_text="What this school says of the teacher: its own record, nobody else's.")


class TeacherSubjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    school_id = serializers.IntegerField()


class TeacherRateOutput(serializers.Serializer):
    school_id = serializers.IntegerField()
    subject_id = serializers.IntegerField(allow_null=True, help_text="Empty for the default rates.")
    is_group = serializers.BooleanField()
    hourly_rate = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField()


class TeacherOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The teacher's user id.")
    name = serializers.CharField()
    email = serializers.EmailField()
    schools = TeacherSchoolOutput(
        many=True,
        help_text="The schools they teach in whose side I may see (all of mine for the teacher, "
        "those I run for staff), each with its bio of them.",
    )
    subjects = TeacherSubjectOutput(many=True)
    rates = TeacherRateOutput(
        many=True, help_text="Only for the teacher themselves and for the staff of the rate's school."
    )


class TeacherRateInput(serializers.Serializer):
    subject_id = IdField()
    is_group = serializers.BooleanField(default=False)
    hourly_rate = Money()


class TeacherCreateInput(PersonInput):
    bio = serializers.CharField(max_length=5000, required=False, allow_blank=True, help_text="This school's.")
    subject_ids = IdListField(required=False, default=list, help_text="Subjects of this school they teach.")
    default_hourly_rate = Money()
    group_hourly_rate = Money(required=False, allow_null=True)
    rates = serializers.ListField(
        child=TeacherRateInput(), required=False, max_length=200, help_text="Per-subject rates in this school."
    )


class TeacherUpdateInput(serializers.Serializer):
    school_id = IdField(required=False, help_text="The school whose record of the teacher changes (or `?school=`).")
    bio = serializers.CharField(max_length=5000, required=False, allow_blank=True, help_text="That school's.")
    subject_ids = IdListField(required=False, help_text="Replaces their subjects of this school.")
    default_hourly_rate = Money(required=False)
    group_hourly_rate = Money(required=False, allow_null=True, help_text="Empty removes the group rate.")
    rates = serializers.ListField(
        child=TeacherRateInput(), required=False, max_length=200, help_text="Replaces their per-subject rates here."
    )


STAFF_FIELDS = ("subject_ids", "default_hourly_rate", "group_hourly_rate", "rates")


def _rate_inputs(rows: list[dict[str, Any]]) -> list[services.RateInput]:
    return [services.RateInput(**row) for row in rows]


def _teacher_data(teacher: Teacher, viewer: Viewer) -> dict[str, Any]:
    shown = selectors.teacher_shown_school_ids(viewer=viewer, teacher=teacher)
    user = teacher.user
    bios = {record.school_id: record.bio for record in teacher.visible_records}  # type: ignore[attr-defined]
    return {
        "id": teacher.pk,
        "name": user.full_name,
        "email": user.email,
        "schools": [
            {"id": m.school_id, "name": m.school.name, "bio": bios.get(m.school_id, "")}
            for m in user.teaching_memberships  # type: ignore[attr-defined]
            if m.school_id in shown
        ],
        "subjects": [
            {"id": s.pk, "name": s.name, "school_id": s.school_id}
            for s in teacher.visible_subjects  # type: ignore[attr-defined]
            if s.school_id in shown
        ],
        "rates": [
            {
                "school_id": r.school_id,
                "subject_id": r.subject_id,
                "is_group": r.is_group,
                "hourly_rate": r.hourly_rate,
                "currency": r.school.currency,
            }
            for r in teacher.visible_rates  # type: ignore[attr-defined]
            if r.school_id in shown
        ],
    }


class TeacherListApi(ScopedListApi):
    """The teachers I may see (all of my schools' for owners and admins, myself as a teacher); or add one."""

    model = Teacher
    filterset_class = TeacherFilter

    def scoped_queryset(self) -> QuerySet[Teacher]:
        return selectors.teacher_directory(viewer=self.viewer)

    @extend_schema(operation_id="teachers_list", responses=TeacherOutput(many=True))
    def get(self, request: Request) -> Response:
        viewer = self.viewer
        return self.paginated(lambda page: [_teacher_data(t, viewer) for t in page], TeacherOutput)

    @extend_schema(
        operation_id="teachers_create",
        request=TeacherCreateInput,
        responses={201: InvitationOutput, **error_responses(400, 403)},
        description=f"Owners and admins. {INVITES} Here: the bio, subjects and rates of this school.",
    )
    def post(self, request: Request) -> Response:
        data = parse(TeacherCreateInput, request.data)
        school = _school_named(self, data)
        details = services.teacher_invitation_details(
            school=school,
            default_hourly_rate=data["default_hourly_rate"],
            group_hourly_rate=data.get("group_hourly_rate"),
            bio=data.get("bio"),
            subject_ids=data["subject_ids"],
            rates=_rate_inputs(data.get("rates", [])),
        )
        return _invite(self, school, data, Role.TEACHER, details)


class TeacherDetailApi(ViewerApi):
    """One teacher. A school's staff change its record of them (bio, subjects, rates); the teacher, their bio
    in a school they teach in. No school writes, or reads, another's record."""

    @extend_schema(operation_id="teachers_retrieve", responses={200: TeacherOutput, **error_responses(404)})
    def get(self, request: Request, teacher_id: int) -> Response:
        teacher = selectors.teacher_directory_get_for_viewer(viewer=self.viewer, teacher_id=teacher_id)
        return Response(TeacherOutput(_teacher_data(teacher, self.viewer)).data)

    @extend_schema(
        operation_id="teachers_partial_update",
        request=TeacherUpdateInput,
        parameters=[SCHOOL_PARAMETER],
        responses={200: TeacherOutput, **error_responses(400, 403, 404)},
        description="Everything here is the record of the school named by `school_id` (or `?school=`), where "
        "the teacher must teach. `bio`: that school's staff, or the teacher themselves. Subjects and rates: "
        "that school's staff.",
    )
    def patch(self, request: Request, teacher_id: int) -> Response:
        teacher = selectors.teacher_directory_get_for_viewer(viewer=self.viewer, teacher_id=teacher_id)
        data = parse(TeacherUpdateInput, request.data)
        school = _school_for_record(self, data, teacher=teacher)
        if "rates" in data:
            data["rates"] = _rate_inputs(data["rates"])
        if "group_hourly_rate" in data and data["group_hourly_rate"] is None:
            data["clear_group_rate"] = True
        services.teacher_update(viewer=self.viewer, teacher=teacher, school=school, **data)
        teacher = selectors.teacher_directory_get_for_viewer(viewer=self.viewer, teacher_id=teacher_id)
        return Response(TeacherOutput(_teacher_data(teacher, self.viewer)).data)

    @extend_schema(
        operation_id="teachers_destroy",
        parameters=[OpenApiParameter("school", OpenApiTypes.INT, required=True)],
        responses={204: None, **error_responses(400, 403, 404)},
        description="Owners and admins: the teacher stops teaching in `?school=` (their role there goes "
        "inactive; their profile and history stay).",
    )
    def delete(self, request: Request, teacher_id: int) -> Response:
        teacher = selectors.teacher_get_for_viewer(viewer=self.viewer, teacher_id=teacher_id)
        school = _school_named(self, {})
        services.teacher_deactivate(viewer=self.viewer, teacher=teacher, school=school)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Students. -------------------------------------------------------------------------------------


class StudentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    school_id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()
    grade = serializers.CharField()
    is_active = serializers.BooleanField()
    guardians = NamedOutput(many=True, required=False, help_text="For the school's staff and teachers only.")
    notes = serializers.CharField(required=False, help_text="For the school's owners and admins only.")


class StudentCreateInput(PersonInput):
    grade = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    notes = serializers.CharField(max_length=10_000, required=False, allow_blank=True, default="")
    guardian_ids = IdListField(required=False, default=list, help_text="Guardians (user ids) of this school.")


class StudentUpdateInput(serializers.Serializer):
    grade = serializers.CharField(max_length=50, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
    guardian_ids = IdListField(required=False, help_text="Replaces the student's guardians.")


def _student_data(student: Student, viewer: Viewer) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": student.pk,
        "school_id": student.school_id,
        "name": student.user.full_name,
        "email": student.user.email,
        "grade": student.grade,
        "is_active": student.is_active,
    }
    shown = selectors.student_restricted_fields(viewer=viewer, school_id=student.school_id)
    if "guardians" in shown:
        data["guardians"] = [
            {"id": link.guardian_id, "name": link.guardian.full_name}
            for link in student.active_guardian_links  # type: ignore[attr-defined]
        ]
    if "notes" in shown:
        data["notes"] = student.notes
    return data


class StudentListApi(ScopedListApi):
    """The students I may see: all of my schools' for owners and admins, those I teach as a teacher, myself
    as a student, my children as a guardian. Owners and admins add students."""

    model = Student
    filterset_class = StudentFilter

    def scoped_queryset(self) -> QuerySet[Student]:
        return selectors.student_directory(viewer=self.viewer)

    @extend_schema(operation_id="students_list", responses=StudentOutput(many=True))
    def get(self, request: Request) -> Response:
        viewer = self.viewer
        return self.paginated(lambda page: [_student_data(s, viewer) for s in page], StudentOutput)

    @extend_schema(
        operation_id="students_create",
        request=StudentCreateInput,
        responses={201: InvitationOutput, **error_responses(400, 403)},
        description=f"Owners and admins. {INVITES} Here: the grade, notes and guardians (a former student "
        "comes back with them).",
    )
    def post(self, request: Request) -> Response:
        data = parse(StudentCreateInput, request.data)
        school = _school_named(self, data)
        details = services.student_invitation_details(
            school=school, grade=data["grade"], notes=data["notes"], guardian_ids=data["guardian_ids"]
        )
        return _invite(self, school, data, Role.STUDENT, details)


class StudentDetailApi(ViewerApi):
    """One student I may see. Only the school's owners and admins change or remove them."""

    def _student(self, student_id: int) -> Student:
        return selectors.student_directory_get_for_viewer(viewer=self.viewer, student_id=student_id)

    @extend_schema(operation_id="students_retrieve", responses={200: StudentOutput, **error_responses(404)})
    def get(self, request: Request, student_id: int) -> Response:
        return Response(StudentOutput(_student_data(self._student(student_id), self.viewer)).data)

    @extend_schema(
        operation_id="students_partial_update",
        request=StudentUpdateInput,
        responses={200: StudentOutput, **error_responses(400, 403, 404)},
    )
    def patch(self, request: Request, student_id: int) -> Response:
        student = selectors.student_directory_get_for_action(
            viewer=self.viewer, student_id=student_id, action=Action.PEOPLE_MANAGE
        )
        data = parse(StudentUpdateInput, request.data)
        services.student_update(viewer=self.viewer, student=student, **data)
        return Response(StudentOutput(_student_data(self._student(student_id), self.viewer)).data)

    @extend_schema(
        operation_id="students_destroy",
        responses={204: None, **error_responses(403, 404)},
        description="Deactivates the student (record and role); their history stays.",
    )
    def delete(self, request: Request, student_id: int) -> Response:
        student = selectors.student_directory_get_for_action(
            viewer=self.viewer, student_id=student_id, action=Action.PEOPLE_MANAGE
        )
        services.student_deactivate(viewer=self.viewer, student=student)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Guardians. ------------------------------------------------------------------------------------


class GuardianOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The guardian's user id.")
    name = serializers.CharField()
    email = serializers.EmailField()
    students = NamedOutput(many=True, help_text="Their students that I may see.")


class GuardianCreateInput(PersonInput):
    student_ids = IdListField(min_length=1, help_text="Students of this school.")
    relationship = serializers.CharField(max_length=50, required=False, allow_blank=True)


class GuardianUpdateInput(serializers.Serializer):
    school_id = IdField(required=False, help_text="The school whose students these are (or `?school=`).")
    student_ids = IdListField(min_length=1, help_text="Replaces their students in this school.")
    relationship = serializers.CharField(max_length=50, required=False, allow_blank=True)


def _guardian_data(guardian: User) -> dict[str, Any]:
    return {
        "id": guardian.pk,
        "name": guardian.full_name,
        "email": guardian.email,
        "students": [
            {"id": link.student_id, "name": link.student.user.full_name}
            for link in guardian.visible_links  # type: ignore[attr-defined]
        ],
    }


class GuardianListApi(ScopedListApi):
    """The guardians I may see: of my schools' students for owners and admins, of the students I teach as a
    teacher, myself as a guardian. Owners and admins add guardians."""

    model = User
    filterset_class = GuardianFilter

    def scoped_queryset(self) -> QuerySet[User]:
        return selectors.guardian_list(viewer=self.viewer)

    @extend_schema(operation_id="guardians_list", responses=GuardianOutput(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated(lambda page: [_guardian_data(g) for g in page], GuardianOutput)

    @extend_schema(
        operation_id="guardians_create",
        request=GuardianCreateInput,
        responses={201: InvitationOutput, **error_responses(400, 403)},
        description=f"Owners and admins. {INVITES} Here: the students of this school they are linked to (added "
        "to those they have).",
    )
    def post(self, request: Request) -> Response:
        data = parse(GuardianCreateInput, request.data)
        school = _school_named(self, data)
        details = services.guardian_invitation_details(
            school=school, student_ids=data["student_ids"], relationship=data.get("relationship")
        )
        return _invite(self, school, data, Role.GUARDIAN, details)


class GuardianDetailApi(ViewerApi):
    """One guardian I may see. The school's owners and admins set their students there, or remove them."""

    @extend_schema(operation_id="guardians_retrieve", responses={200: GuardianOutput, **error_responses(404)})
    def get(self, request: Request, guardian_id: int) -> Response:
        guardian = selectors.guardian_get_for_viewer(viewer=self.viewer, guardian_id=guardian_id)
        return Response(GuardianOutput(_guardian_data(guardian)).data)

    @extend_schema(
        operation_id="guardians_partial_update",
        request=GuardianUpdateInput,
        parameters=[SCHOOL_PARAMETER],
        responses={200: GuardianOutput, **error_responses(400, 403, 404)},
    )
    def patch(self, request: Request, guardian_id: int) -> Response:
        guardian = selectors.guardian_get_for_viewer(viewer=self.viewer, guardian_id=guardian_id)
        data = parse(GuardianUpdateInput, request.data)
        school = _school_named(self, data)
        services.guardian_update(viewer=self.viewer, guardian=guardian, school=school, **data)
        guardian = selectors.guardian_get_for_viewer(viewer=self.viewer, guardian_id=guardian_id)
        return Response(GuardianOutput(_guardian_data(guardian)).data)

    @extend_schema(
        operation_id="guardians_destroy",
        parameters=[OpenApiParameter("school", OpenApiTypes.INT, required=True)],
        responses={204: None, **error_responses(400, 403, 404)},
        description="Owners and admins: unlinks the guardian from the school's students and deactivates "
        "their guardian role there.",
    )
    def delete(self, request: Request, guardian_id: int) -> Response:
        guardian = selectors.guardian_get_for_viewer(viewer=self.viewer, guardian_id=guardian_id)
        school = _school_named(self, {})
        services.guardian_remove(viewer=self.viewer, guardian=guardian, school=school)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Teaching assignments. -------------------------------------------------------------------------

UNKNOWN_STUDENT = "No such student."


class AssignmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    school_id = serializers.IntegerField()
    teacher_id = serializers.IntegerField()
    student_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class AssignmentCreateInput(serializers.Serializer):
    teacher_id = IdField()
    student_id = IdField()


def _assignment_data(assignment: TeachingAssignment) -> dict[str, Any]:
    return {
        "id": assignment.pk,
        "school_id": assignment.school_id,
        "teacher_id": assignment.teacher_id,
        "student_id": assignment.student_id,
        "created_at": assignment.created_at,
    }


class AssignmentListApi(ScopedListApi):
    """Which teacher teaches which student: the school's staff decide it, and it alone gives a teacher
    reach over a student. Staff see their schools'; a teacher their own."""

    model = TeachingAssignment
    filterset_class = AssignmentFilter

    def scoped_queryset(self) -> QuerySet[TeachingAssignment]:
        return selectors.assignment_list(viewer=self.viewer)

    @extend_schema(operation_id="assignments_list", responses=AssignmentOutput(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated(lambda page: [_assignment_data(a) for a in page], AssignmentOutput)

    @extend_schema(
        operation_id="assignments_create",
        request=AssignmentCreateInput,
        responses={201: AssignmentOutput, **error_responses(400, 403)},
        description="Owners and admins of the student's school. A student one may not see is an unknown "
        "`student_id` (400); the teacher must teach in the student's school. Assigning twice keeps one.",
    )
    def post(self, request: Request) -> Response:
        data = parse(AssignmentCreateInput, request.data)
        student = selectors.student_list(viewer=self.viewer).filter(pk=data["student_id"]).first()
        if student is None:
            raise serializers.ValidationError({"student_id": [UNKNOWN_STUDENT]})
        assignment = services.assignment_create(viewer=self.viewer, student=student, teacher_id=data["teacher_id"])
        return Response(AssignmentOutput(_assignment_data(assignment)).data, status=status.HTTP_201_CREATED)


class AssignmentDetailApi(ViewerApi):
    """One assignment; its school's owners and admins end it."""

    @extend_schema(operation_id="assignments_retrieve", responses={200: AssignmentOutput, **error_responses(404)})
    def get(self, request: Request, assignment_id: int) -> Response:
        assignment = selectors.assignment_get_for_viewer(viewer=self.viewer, assignment_id=assignment_id)
        return Response(AssignmentOutput(_assignment_data(assignment)).data)

    @extend_schema(
        operation_id="assignments_destroy",
        responses={204: None, **error_responses(403, 404)},
        description="Owners and admins: the teacher no longer reaches the student (their past sessions stay).",
    )
    def delete(self, request: Request, assignment_id: int) -> Response:
        assignment = selectors.assignment_get_for_action(
            viewer=self.viewer, assignment_id=assignment_id, action=Action.PEOPLE_MANAGE
        )
        services.assignment_delete(viewer=self.viewer, assignment=assignment)
        return Response(status=status.HTTP_204_NO_CONTENT)
