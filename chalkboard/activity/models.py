from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class ActivityLog(models.Model):
    """Who did what, when: an append-only audit trail of every write that matters."""

    # School and teacher: indexed by the indexes below, which lead with them.
    school = models.ForeignKey(
        "schools.School", on_delete=models.CASCADE, null=True, blank=True, related_name="activity", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    teacher = models.ForeignKey(
        "people.Teacher",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activity",
        db_index=False,
        help_text="The teacher whose day this concerns, when there is one (feeds the dashboard).",
    )
    verb = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["school", "created_at"], name="activity_school_created"),
            models.Index(fields=["teacher", "school", "created_at"], name="activity_teacher_created"),
        ]
        ordering = ["-created_at", "-id"]
