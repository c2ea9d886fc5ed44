from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from chalkboard.common.models import TimeStampedModel
from chalkboard.people.models import Teacher
from chalkboard.schools.models import School


class EarningStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    PAID = "paid"
    HELD = "held", "Beyond the school's bounds: waits for its owners or admins to release or reject it"
    REJECTED = "rejected", "Held, then rejected by the school: never paid, counted nowhere"


class ReviewDecision(models.TextChoices):
    """What the school's owners or admins decide about a held entry."""

    RELEASE = "release", "The pay stands: the entry becomes pending, then is approved and paid as usual"
    REJECT = "reject", "The pay does not stand: the entry becomes rejected, never paid"


# What the school owes or has paid: the statuses every "earned" figure adds up.
COUNTED = (EarningStatus.PENDING, EarningStatus.APPROVED, EarningStatus.PAID)


class EarningKind(models.TextChoices):
    SESSION = "session", "A completed session"
    NO_SHOW = "no_show", "A billable no-show"
    ADJUSTMENT = "adjustment", "A correction to an entry already approved or paid"


class Payout(TimeStampedModel):
    """A payment to a teacher that settles a set of approved entries."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="payouts")
    teacher = models.ForeignKey(Teacher, on_delete=models.PROTECT, related_name="payouts")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    paid_at = models.DateTimeField()
    reference = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gte=Decimal("0")), name="payout_not_negative")]
        indexes = [models.Index(fields=["teacher", "school", "paid_at"], name="payout_teacher_paid")]


class EarningEntry(TimeStampedModel):
    """One line of a teacher's ledger. Never rewritten once approved: corrections are new adjustment entries."""

    school = models.ForeignKey(School, on_delete=models.CASCADE, related_name="earning_entries")
    teacher = models.ForeignKey(  # indexed by earning_teacher_earned and earning_teacher_ledger
        Teacher, on_delete=models.PROTECT, related_name="earning_entries", db_index=False
    )
    session = models.ForeignKey(
        "scheduling.Session", on_delete=models.PROTECT, null=True, blank=True, related_name="earning_entries"
    )
    kind = models.CharField(max_length=16, choices=EarningKind.choices, default=EarningKind.SESSION)
    status = models.CharField(max_length=16, choices=EarningStatus.choices, default=EarningStatus.PENDING)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    minutes = models.IntegerField(help_text="Minutes paid (negative on an adjustment that takes time back).")
    hourly_rate = models.DecimalField(max_digits=10, decimal_places=2)
    earned_at = models.DateTimeField(help_text="When the work was done: the session's start.")
    description = models.CharField(max_length=300, blank=True)
    hold_reason = models.CharField(
        max_length=300, blank=True, help_text="Why the entry was held for review (kept once it is decided)."
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, null=True, blank=True, related_name="entries")
    adjusts = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="adjustments")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session"], condition=~Q(kind="adjustment"), name="earning_one_per_session"
            ),
            models.CheckConstraint(condition=Q(status__in=EarningStatus.values), name="earning_status_valid"),
            models.CheckConstraint(condition=Q(kind__in=EarningKind.values), name="earning_kind_valid"),
            models.CheckConstraint(
                condition=~Q(status="paid") | Q(payout__isnull=False), name="earning_paid_has_payout"
            ),
            models.CheckConstraint(
                condition=Q(status="paid") | Q(payout__isnull=True), name="earning_payout_only_when_paid"
            ),
            models.CheckConstraint(condition=~Q(status="held") | ~Q(hold_reason=""), name="earning_held_has_reason"),
            models.CheckConstraint(
                condition=Q(kind="adjustment") | Q(amount__gte=Decimal("0")), name="earning_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(kind="adjustment") | Q(adjusts__isnull=False), name="earning_adjustment_has_origin"
            ),
        ]
        indexes = [
            models.Index(fields=["teacher", "school", "earned_at"], name="earning_teacher_earned"),
            # Also the dashboard's ledger totals, read from the index alone (status, date and amount).
            models.Index(fields=["teacher", "school", "status", "earned_at", "amount"], name="earning_teacher_ledger"),
        ]
