from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from chalkboard.common.models import TimeStampedModel
from chalkboard.people.models import Student, Teacher
from chalkboard.schools.models import School, Skill, Subject


class AssessmentKind(models.TextChoices):
    QUIZ = "quiz"
    TEST = "test"
    HOMEWORK = "homework"
    EXAM = "exam"
    PROJECT = "project"
    ORAL = "oral"
    OBSERVATION = "observation"


class ProgressAssessment(TimeStampedModel):
    """One scored piece of evidence about one student in one subject (and optionally one skill)."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="assessments")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="assessments")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="assessments")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, null=True, blank=True, related_name="assessments")
    teacher = models.ForeignKey(Teacher, on_delete=models.PROTECT, related_name="assessments")
    session = models.ForeignKey(
        "scheduling.Session", on_delete=models.SET_NULL, null=True, blank=True, related_name="assessments"
    )
    kind = models.CharField(max_length=16, choices=AssessmentKind.choices)
    score = models.DecimalField(max_digits=8, decimal_places=2)
    max_score = models.DecimalField(max_digits=8, decimal_places=2)
    percentage = models.DecimalField(max_digits=5, decimal_places=2)
    assessed_at = models.DateTimeField()
    comments = models.TextField(blank=True, max_length=5_000)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AssessmentKind.values), name="assessment_kind_valid"),
            models.CheckConstraint(condition=Q(max_score__gt=0), name="assessment_max_score_positive"),
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=F("max_score")), name="assessment_score_in_range"
            ),
            models.CheckConstraint(
                condition=Q(percentage__gte=0, percentage__lte=100), name="assessment_percentage_range"
            ),
        ]
        indexes = [
            models.Index(fields=["student", "subject", "assessed_at"], name="assessment_student_subject"),
            models.Index(fields=["teacher", "school", "assessed_at"], name="assessment_teacher_recent"),
            # A skill's evidence (its latest assessments) and a school's list, newest first.
            models.Index(fields=["student", "skill", "assessed_at"], name="assessment_student_skill"),
            models.Index(fields=["school", "assessed_at"], name="assessment_school_recent"),
        ]


class Level(models.TextChoices):
    NOT_STARTED = "not_started"
    ATTEMPTED = "attempted"
    FAMILIAR = "familiar"
    PROFICIENT = "proficient"
    MASTERED = "mastered"


class Trend(models.TextChoices):
    UP = "up"
    FLAT = "flat"
    DOWN = "down"


class StudentProgress(TimeStampedModel):
    """Where a student stands in a subject (``skill`` empty) or in one skill of it, kept up to date from assessments."""

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="progress")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="+")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.NOT_STARTED)
    percentage = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    trend = models.CharField(max_length=8, choices=Trend.choices, default=Trend.FLAT)
    assessments_count = models.PositiveIntegerField(default=0)
    last_assessed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["student", "subject", "skill"], condition=Q(skill__isnull=False), name="progress_unique_skill"
            ),
            models.UniqueConstraint(
                fields=["student", "subject"], condition=Q(skill__isnull=True), name="progress_unique_subject"
            ),
            models.CheckConstraint(condition=Q(level__in=Level.values), name="progress_level_valid"),
            models.CheckConstraint(condition=Q(trend__in=Trend.values), name="progress_trend_valid"),
            models.CheckConstraint(
                condition=Q(percentage__isnull=True) | Q(percentage__gte=0, percentage__lte=100),
                name="progress_percentage_range",
            ),
        ]


class ProgressGoal(TimeStampedModel):
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="goals")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="+")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    title = models.CharField(max_length=200)
    target_percentage = models.DecimalField(max_digits=5, decimal_places=2)
    due_date = models.DateField(null=True, blank=True)
    achieved_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(target_percentage__gt=0, target_percentage__lte=100), name="goal_target_range"
            ),
        ]
        indexes = [models.Index(fields=["student", "subject"], name="goal_student_subject")]
