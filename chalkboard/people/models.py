"""The people of a school beyond their memberships: teachers' profiles and rates, students, guardians."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from chalkboard.common.models import TimeStampedModel
from chalkboard.schools.models import School, Subject


class Teacher(TimeStampedModel):
    """A teacher's profile. Its id is the user's id, so one person is one teacher in every school they teach in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="teacher"
    )
    subjects = models.ManyToManyField(Subject, blank=True, related_name="teachers")

    def __str__(self) -> str:
        return str(self.user)


class SchoolTeacher(TimeStampedModel):
    """What one school says about one of its teachers (their bio there). The person's own data (name, email,
    password) is on their user, which only they edit; each school writes, and reads, only its own record."""

    teacher = models.ForeignKey(Teacher, on_delete=models.CASCADE, related_name="school_records")
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="teacher_records")
    bio = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["teacher", "school"], name="school_teacher_unique")]

    def __str__(self) -> str:
        return f"{self.teacher_id} @ {self.school_id}"


class TeacherRate(TimeStampedModel):
    """What a teacher earns per hour in one school: a default, per subject, and for group sessions.

    The rate that applies to a session is the most specific one: subject and group, then subject, then
    group, then the default (no subject, not group).
    """

    teacher = models.ForeignKey(Teacher, on_delete=models.CASCADE, related_name="rates")
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="teacher_rates")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    is_group = models.BooleanField(default=False)
    hourly_rate = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["teacher", "school", "subject", "is_group"],
                condition=Q(subject__isnull=False),
                name="teacher_rate_unique_subject",
            ),
            models.UniqueConstraint(
                fields=["teacher", "school", "is_group"],
                condition=Q(subject__isnull=True),
                name="teacher_rate_unique_default",
            ),
            models.CheckConstraint(condition=Q(hourly_rate__gte=Decimal("0")), name="teacher_rate_not_negative"),
        ]


class Student(TimeStampedModel):
    """A student of one school. A person who studies in two schools is two students, one in each."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="students")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="student_profiles")
    grade = models.CharField(max_length=50, blank=True)
    notes = models.TextField(blank=True, help_text="Visible to the school's staff only.")
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["school", "user"], name="student_unique_per_school")]

    def __str__(self) -> str:
        return str(self.user)


class GuardianLink(TimeStampedModel):
    guardian = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wards")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="guardian_links")
    relationship = models.CharField(max_length=50, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["guardian", "student"], name="guardian_link_unique")]


class TeachingAssignment(TimeStampedModel):
    """A decision of the school's staff: this teacher teaches this student. It alone gives a teacher reach
    over a student (their record, progress, guardians, and booking them): nothing a teacher creates, cancels
    or completes alone makes or widens one. A session booked by staff makes one for its teacher and students."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="+")
    teacher = models.ForeignKey(Teacher, on_delete=models.CASCADE, related_name="assignments")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="assignments")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["teacher", "student"], name="teaching_assignment_unique")]
        indexes = [models.Index(fields=["student", "teacher"], name="assignment_student_teacher")]

    def __str__(self) -> str:
        return f"{self.teacher_id} teaches {self.student_id}"
