from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from chalkboard.common.models import TimeStampedModel
from chalkboard.common.timezones import is_iana_zone

# Pay that needs a second look (see ``earnings.services.earning_hold_reason``), and how long a paid session
# stays open to amendments: a school's own bounds, these by default.
DEFAULT_LATE_CLAIM_DAYS = 14
DEFAULT_OVERRUN_MINUTES = 30
DEFAULT_PAID_AMEND_DAYS = 30
MAX_REVIEW_DAYS = 366
MAX_OVERRUN_MINUTES = 720


def validate_timezone(value: str) -> None:
    if not is_iana_zone(value):
        raise ValidationError(f"{value!r} is not an IANA time zone.")


class School(TimeStampedModel):
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    currency = models.CharField(max_length=3, default="EUR", help_text="ISO 4217 code.")
    no_show_billable = models.BooleanField(
        default=True, help_text="Whether a session the students did not attend is still paid to the teacher."
    )
    late_claim_days = models.PositiveSmallIntegerField(
        default=DEFAULT_LATE_CLAIM_DAYS,
        help_text="Pay a teacher claims more than this many days after the session started is held for review.",
    )
    overrun_minutes = models.PositiveSmallIntegerField(
        default=DEFAULT_OVERRUN_MINUTES,
        help_text="Pay for more than this many minutes beyond the planned duration is held for review.",
    )
    paid_amend_days = models.PositiveSmallIntegerField(
        default=DEFAULT_PAID_AMEND_DAYS,
        help_text="How many days after its first payout a completed session may still be amended.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="school_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(
                    late_claim_days__lte=MAX_REVIEW_DAYS,
                    overrun_minutes__lte=MAX_OVERRUN_MINUTES,
                    paid_amend_days__lte=MAX_REVIEW_DAYS,
                ),
                name="school_pay_bounds_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    TEACHER = "teacher"
    STUDENT = "student"
    GUARDIAN = "guardian"


class Membership(TimeStampedModel):
    """One role of one user in one school. A user may hold several roles in the same school."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "school", "role"], name="membership_unique_role"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]
        indexes = [models.Index(fields=["school", "role", "is_active"], name="membership_school_role")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} @ {self.school_id}"


class Subject(TimeStampedModel):
    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="subjects")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["school", "name"], name="subject_unique_name")]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Skill(models.Model):
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="skills")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject", "name"], name="skill_unique_name")]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
