from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from chalkboard.common.models import TimeStampedModel
from chalkboard.people.models import Student, Teacher
from chalkboard.schools.models import School, Subject

MAX_SESSION_MINUTES = 12 * 60


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class Session(TimeStampedModel):
    """A lesson: one teacher, one or more students, one subject, at one time."""

    # School and teacher: no index of their own, the indexes below lead with them.
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="sessions", db_index=False)
    teacher = models.ForeignKey(Teacher, on_delete=models.PROTECT, related_name="sessions", db_index=False)
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="sessions")
    starts_at = models.DateTimeField()
    planned_duration_minutes = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED)
    location = models.CharField(max_length=200, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actual_duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=500, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Bumped on every change, for optimistic concurrency.")

    students: models.ManyToManyField[Student, SessionStudent] = models.ManyToManyField(
        Student, through="SessionStudent", related_name="sessions"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=SessionStatus.values), name="session_status_valid"),
            models.CheckConstraint(
                condition=Q(planned_duration_minutes__gt=0, planned_duration_minutes__lte=MAX_SESSION_MINUTES),
                name="session_planned_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(actual_duration_minutes__isnull=True)
                | Q(actual_duration_minutes__gt=0, actual_duration_minutes__lte=MAX_SESSION_MINUTES),
                name="session_actual_duration_range",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["completed", "no_show"]) | Q(completed_at__isnull=False),
                name="session_final_has_completed_at",
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(actual_duration_minutes__isnull=False),
                name="session_completed_has_duration",
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(completed_at__gte=F("starts_at")),
                name="session_completed_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["teacher", "school", "starts_at"], name="session_teacher_start"),
            models.Index(fields=["school", "starts_at"], name="session_school_start"),
            models.Index(fields=["teacher", "school", "status", "starts_at"], name="session_teacher_status"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_id} @ {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.planned_duration_minutes)


class Attendance(models.TextChoices):
    PRESENT = "present"
    LATE = "late"
    ABSENT = "absent"
    EXCUSED = "excused"


ATTENDED = (Attendance.PRESENT, Attendance.LATE)


class SessionStudent(models.Model):
    """A student booked into a session, with their attendance once the session is done."""

    # Indexed by the unique constraint (session first) and by session_student_by_student (student first).
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="attendees", db_index=False)
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="attendances", db_index=False)
    attendance = models.CharField(max_length=16, choices=Attendance.choices, blank=True)
    # The session's teacher, school, start and status, copied by the database (chalkboard/scheduling/
    # triggers.py) and never written here: a teacher's bookings over a span of days in one index. Null only
    # until SQLite's trigger fills a booking just inserted.
    session_teacher_id = models.BigIntegerField(null=True, editable=False)
    session_school_id = models.BigIntegerField(null=True, editable=False)
    session_starts_at = models.DateTimeField(null=True, editable=False)
    session_status = models.CharField(max_length=16, null=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "student"], name="session_student_unique"),
            models.CheckConstraint(
                condition=Q(attendance="") | Q(attendance__in=Attendance.values), name="attendance_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["student", "session"], name="session_student_by_student"),
            # Everything the dashboard reads of a teacher's bookings, in the index itself.
            models.Index(
                fields=[
                    "session_teacher_id",
                    "session_school_id",
                    "session_starts_at",
                    "student",
                    "session_status",
                    "attendance",
                ],
                name="booking_teacher_start",
            ),
        ]


class NoteVisibility(models.TextChoices):
    SHARED = "shared", "Students, guardians and staff"
    STAFF = "staff", "The teacher and school admins"
    ADMIN = "admin", "School owners and admins"


class SessionNote(TimeStampedModel):
    session = models.ForeignKey(  # indexed by note_session_created
        Session, on_delete=models.CASCADE, related_name="notes", db_index=False
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    visibility = models.CharField(max_length=8, choices=NoteVisibility.choices, default=NoteVisibility.SHARED)
    text = models.TextField(max_length=10_000)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(visibility__in=NoteVisibility.values), name="note_visibility_valid"),
        ]
        indexes = [models.Index(fields=["session", "created_at"], name="note_session_created")]
