"""Calendar feeds: a secret address from which a calendar app reads one person's lessons (RFC 5545)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from chalkboard.common.models import TimeStampedModel
from chalkboard.people.models import Student, Teacher
from chalkboard.schools.models import School


class FeedKind(models.TextChoices):
    TEACHER = "teacher", "A teacher's own sessions in a school"
    STUDENT = "student", "A student's sessions (the student's own feed, or a guardian's)"
    SCHOOL = "school", "Every session of a school (owners and admins)"


class CalendarFeed(TimeStampedModel):
    """One feed of one owner. The address's secret is stored as its SHA-256 only: the table alone opens no
    feed. A feed reads with its owner's rights of the moment, so a feed whose owner lost the right to its
    sessions (left the school, unlinked from the student) answers 404 like a revoked one."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds")
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="calendar_feeds")
    kind = models.CharField(max_length=8, choices=FeedKind.choices)
    teacher = models.ForeignKey(Teacher, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=FeedKind.values), name="calendar_feed_kind_valid"),
            models.CheckConstraint(
                condition=(Q(kind=FeedKind.TEACHER) & Q(teacher__isnull=False, student__isnull=True))
                | (Q(kind=FeedKind.STUDENT) & Q(teacher__isnull=True, student__isnull=False))
                | (Q(kind=FeedKind.SCHOOL) & Q(teacher__isnull=True, student__isnull=True)),
                name="calendar_feed_subject_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["owner", "id"], name="calendar_feed_owner")]

    def __str__(self) -> str:
        return f"{self.kind} feed {self.pk} @ {self.school_id}"
