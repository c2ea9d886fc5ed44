"""Assessments, student progress and goals over HTTP. Thin: parse, call a service or a selector, answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chalkboard.common.api import (
    NOT_AUTHENTICATED,
    NOT_FOUND,
    AwareDateTimeField,
    DateOrTimeField,
    IdField,
    NamedOutput,
    error_response,
)
from chalkboard.common.errors import DomainError
from chalkboard.common.pagination import PageNumberPagination
from chalkboard.people.selectors import student_get_for_viewer
from chalkboard.progress.models import AssessmentKind, Level, Trend
from chalkboard.progress.selectors import (
    assessment_item,
    assessment_list,
    goal_get_for_manager,
    goal_get_for_viewer,
    goal_item,
    goal_list_for_manager,
    student_progress,
)
from chalkboard.progress.services import (
    MAX_COMMENTS,
    MAX_SCORE,
    MAX_TITLE,
    GoalFields,
    assessment_create,
    goal_create,
    goal_delete,
    goal_update,
)
from chalkboard.scheduling.models import NoteVisibility
from chalkboard.schools.access import Viewer, viewer_of

NAIVE_TIME = "Give the time with its UTC offset, e.g. 2026-03-01T10:00:00+01:00."


# --- Input. -----------------------------------------------------------------------------------------


def _score_field(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=8, decimal_places=2, max_value=MAX_SCORE, **kwargs)


class AssessmentInput(serializers.Serializer):
    student_id = IdField()
    subject_id = IdField()
    skill_id = IdField(required=False, allow_null=True, help_text="A skill of the subject.")
    skill = IdField(required=False, allow_null=True, help_text="The same as `skill_id`.")
    kind = serializers.ChoiceField(choices=AssessmentKind.choices)
    score = _score_field(min_value=Decimal(0), help_text="From 0 to `max_score`, two decimals at most.")
    max_score = _score_field(help_text="More than 0, up to 999999.99.")
    assessed_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        error_messages={"naive": NAIVE_TIME},
        help_text="Not in the future. Default: now.",
    )
    session_id = IdField(required=False, allow_null=True, help_text="A session the student attends.")
    teacher_id = IdField(
        required=False,
        allow_null=True,
        help_text="Staff only: the teacher who assessed. Default: the session's teacher, else yourself.",
    )
    comments = serializers.CharField(allow_blank=True, max_length=MAX_COMMENTS, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        alias = attrs.pop("skill", None)
        if alias is not None:
            if attrs.get("skill_id") not in (None, alias):
                raise serializers.ValidationError({"skill": ["Give either `skill` or `skill_id`, not two skills."]})
            attrs["skill_id"] = alias
        return attrs


class AssessmentFilter(serializers.Serializer):
    student_id = IdField(required=False)
    subject_id = IdField(required=False)
    teacher_id = IdField(required=False)
    from_ = DateOrTimeField(required=False, help_text="From this day (school time) or time, included.")
    to = DateOrTimeField(required=False, help_text="Up to this day (school time, included) or time.")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class ProgressFilter(serializers.Serializer):
    subject_id = IdField(required=False, help_text="Only this subject.")


class GoalInput(serializers.Serializer):
    subject_id = IdField()
    skill_id = IdField(required=False, allow_null=True)
    title = serializers.CharField(max_length=MAX_TITLE)
    target_percentage = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal("0.01"), max_value=Decimal(100)
    )
    due_date = serializers.DateField(required=False, allow_null=True)
    achieved_at = AwareDateTimeField(required=False, allow_null=True, error_messages={"naive": NAIVE_TIME})


# --- Output (the documented shapes; the selectors build the same dicts). -------------------------


class AssessmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    student = NamedOutput()
    subject = NamedOutput()
    skill = NamedOutput(allow_null=True)
    teacher = NamedOutput()
    session_id = serializers.IntegerField(allow_null=True)
    kind = serializers.ChoiceField(choices=AssessmentKind.choices)
    score = serializers.DecimalField(max_digits=8, decimal_places=2)
    max_score = serializers.DecimalField(max_digits=8, decimal_places=2)
    percentage = serializers.DecimalField(max_digits=5, decimal_places=2, help_text="score / max_score x 100, to 0.01.")
    assessed_at = serializers.DateTimeField()
    comments = serializers.CharField(allow_blank=True)


class GoalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    student_id = serializers.IntegerField()
    subject = NamedOutput()
    skill = NamedOutput(allow_null=True)
    title = serializers.CharField()
    target_percentage = serializers.DecimalField(max_digits=5, decimal_places=2)
    due_date = serializers.DateField(allow_null=True)
    achieved_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProgressStudent(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    school_id = serializers.IntegerField()


class ProgressGoalItem(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    target_percentage = serializers.DecimalField(max_digits=5, decimal_places=2)
    due_date = serializers.DateField(allow_null=True)
    achieved_at = serializers.DateTimeField(allow_null=True)
    skill_id = serializers.IntegerField(allow_null=True)


class ProgressSkill(serializers.Serializer):
    skill = NamedOutput()
    level = serializers.ChoiceField(choices=Level.choices)
    percentage = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
    trend = serializers.ChoiceField(choices=Trend.choices)
    last_assessed_at = serializers.DateTimeField(allow_null=True)


class ProgressHistoryPoint(serializers.Serializer):
    date = serializers.DateField(help_text="In the school's time zone.")
    percentage = serializers.DecimalField(max_digits=5, decimal_places=2)


class ProgressSubject(serializers.Serializer):
    subject = NamedOutput()
    level = serializers.ChoiceField(choices=Level.choices)
    percentage = serializers.DecimalField(
        max_digits=5, decimal_places=2, allow_null=True, help_text="Weighted toward recent assessments."
    )
    trend = serializers.ChoiceField(choices=Trend.choices)
    last_assessed_at = serializers.DateTimeField(allow_null=True)
    assessments_count = serializers.IntegerField()
    goals = ProgressGoalItem(many=True)
    skills = ProgressSkill(many=True)
    history = ProgressHistoryPoint(many=True, help_text="One point per assessment, the last 50, oldest first.")


class ProgressAttendance(serializers.Serializer):
    sessions = serializers.IntegerField(help_text="Sessions held or missed (completed or no-show).")
    present = serializers.IntegerField()
    late = serializers.IntegerField()
    absent = serializers.IntegerField()
    excused = serializers.IntegerField()
    rate = serializers.DecimalField(
        max_digits=3,
        decimal_places=2,
        allow_null=True,
        help_text="(present + late) / sessions with attendance recorded, 0 to 1; null when none is.",
    )


class ProgressNote(serializers.Serializer):
    id = serializers.IntegerField()
    session_id = serializers.IntegerField()
    visibility = serializers.ChoiceField(choices=NoteVisibility.choices)
    text = serializers.CharField()
    author = NamedOutput()
    created_at = serializers.DateTimeField()


class StudentProgressOutput(serializers.Serializer):
    student = ProgressStudent()
    subjects = ProgressSubject(many=True)
    recent_assessments = AssessmentOutput(many=True, help_text="The last 10.")
    attendance = ProgressAttendance()
    notes = ProgressNote(many=True, help_text="The 20 most recent notes the caller may read, newest first.")


FORBIDDEN = error_response(
    403,
    "Visible to you, but you may not do this.",
    (
        "Not staff or teacher",
        "forbidden",
        "Only the school's staff or a teacher of this student may record their progress.",
        None,
    ),
)


# --- Views. -----------------------------------------------------------------------------------------


class ProgressView(APIView):
    @property
    def viewer(self) -> Viewer:
        return viewer_of(self.request)


class AssessmentListCreateApi(ProgressView):
    """Assessments: list those you may see, or record one for a student you teach or whose school you run."""

    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="assessments_list",
        parameters=[AssessmentFilter],
        responses={
            200: AssessmentOutput(many=True),
            400: error_response(
                400,
                "A filter is malformed.",
                (
                    "Malformed filter",
                    "invalid",
                    "Some fields are invalid.",
                    {"from": ["Give a date (YYYY-MM-DD) or a time with its UTC offset."]},
                ),
            ),
            401: NOT_AUTHENTICATED,
        },
    )
    def get(self, request: Request) -> Response:
        params = AssessmentFilter(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        assessments = assessment_list(
            viewer=self.viewer,
            student_id=query.get("student_id"),
            subject_id=query.get("subject_id"),
            teacher_id=query.get("teacher_id"),
            since=query.get("from"),
            until=query.get("to"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(assessments, request, view=self)
        return paginator.get_paginated_response([assessment_item(assessment) for assessment in page or []])

    @extend_schema(
        operation_id="assessments_create",
        request=AssessmentInput,
        responses={
            201: AssessmentOutput,
            400: error_response(
                400,
                "Invalid input, or an id that is unknown or not yours (the same answer).",
                (
                    "Score out of range",
                    "invalid",
                    "The score must be between 0 and the maximum score.",
                    {"score": ["The score must be between 0 and the maximum score."]},
                ),
            ),
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
        },
        examples=[
            OpenApiExample(
                "A quiz on one skill",
                request_only=True,
                value={
                    "student_id": 12,
                    "subject_id": 3,
                    "skill_id": 7,
                    "kind": "quiz",
                    "score": "17.5",
                    "max_score": "20",
                    "assessed_at": "2026-03-02T16:30:00+00:00",
                    "session_id": 451,
                    "comments": "Solid on fractions.",
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = AssessmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            assessment = assessment_create(viewer=self.viewer, **data.validated_data)
        except DomainError as error:
            if error.fields and "skill_id" in error.fields and "skill_id" not in request.data:
                error.fields["skill"] = error.fields.pop("skill_id")
            raise
        return Response(assessment_item(assessment), status=status.HTTP_201_CREATED)


class StudentProgressApi(ProgressView):
    """A student's progress: per subject and skill, goals, history, recent assessments, attendance, notes."""

    @extend_schema(
        operation_id="students_progress",
        parameters=[ProgressFilter],
        responses={
            200: StudentProgressOutput,
            400: error_response(
                400,
                "A filter is malformed.",
                (
                    "Malformed filter",
                    "invalid",
                    "Some fields are invalid.",
                    {"subject_id": ["A valid integer is required."]},
                ),
            ),
            401: NOT_AUTHENTICATED,
            404: NOT_FOUND,
        },
    )
    def get(self, request: Request, student_id: int) -> Response:
        params = ProgressFilter(data=request.query_params)
        params.is_valid(raise_exception=True)
        student = student_get_for_viewer(viewer=self.viewer, student_id=student_id)
        page = student_progress(viewer=self.viewer, student=student, subject_id=params.validated_data.get("subject_id"))
        return Response(page)


GOAL_INVALID = error_response(
    400,
    "Invalid input, or a subject or skill that is not the student's school's.",
    (
        "Target out of range",
        "invalid",
        "The target must be more than 0 and at most 100.",
        {"target_percentage": ["The target must be more than 0 and at most 100."]},
    ),
)


class StudentGoalsApi(ProgressView):
    """A student's goals, for the school's staff and the student's teachers (others see them on the
    progress page)."""

    pagination_class = PageNumberPagination

    def _student(self, student_id: int) -> Any:
        return student_get_for_viewer(viewer=self.viewer, student_id=student_id)

    @extend_schema(
        operation_id="students_goals_list",
        responses={200: GoalOutput(many=True), 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def get(self, request: Request, student_id: int) -> Response:
        goals = goal_list_for_manager(viewer=self.viewer, student=self._student(student_id))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(goals, request, view=self)
        return paginator.get_paginated_response([goal_item(goal) for goal in page or []])

    @extend_schema(
        operation_id="students_goals_create",
        request=GoalInput,
        responses={201: GoalOutput, 400: GOAL_INVALID, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
        examples=[
            OpenApiExample(
                "Reach 80% in algebra by June",
                request_only=True,
                value={
                    "subject_id": 3,
                    "skill_id": 7,
                    "title": "Algebra at 80%",
                    "target_percentage": "80",
                    "due_date": "2026-06-30",
                },
            )
        ],
    )
    def post(self, request: Request, student_id: int) -> Response:
        student = self._student(student_id)
        data = GoalInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields: GoalFields = data.validated_data
        goal = goal_create(viewer=self.viewer, student=student, fields=fields)
        return Response(goal_item(goal), status=status.HTTP_201_CREATED)


class GoalDetailApi(ProgressView):
    """One goal: read, change or remove it (the school's staff and the student's teachers)."""

    def _goal(self, goal_id: int) -> Any:
        return goal_get_for_viewer(viewer=self.viewer, goal_id=goal_id)

    @extend_schema(
        operation_id="goals_retrieve",
        responses={200: GoalOutput, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def get(self, request: Request, goal_id: int) -> Response:
        return Response(goal_item(goal_get_for_manager(viewer=self.viewer, goal_id=goal_id)))

    @extend_schema(
        operation_id="goals_partial_update",
        request=GoalInput,
        responses={200: GoalOutput, 400: GOAL_INVALID, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
        examples=[OpenApiExample("Mark as achieved", request_only=True, value={"achieved_at": "2026-05-20T10:00:00Z"})],
    )
    def patch(self, request: Request, goal_id: int) -> Response:
        goal = self._goal(goal_id)
        data = GoalInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields: GoalFields = data.validated_data
        goal = goal_update(viewer=self.viewer, goal=goal, fields=fields)
        return Response(goal_item(goal))

    @extend_schema(
        operation_id="goals_destroy",
        responses={204: None, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def delete(self, request: Request, goal_id: int) -> Response:
        goal_delete(viewer=self.viewer, goal=self._goal(goal_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
