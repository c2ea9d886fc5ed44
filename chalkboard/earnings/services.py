"""Writes to the earnings ledger: entries for sessions, corrections, approvals and payouts.

Money is exact: amounts are computed from the hourly rate and the minutes as rational numbers and rounded
once, half up, to the cent. An entry that was approved or paid is never rewritten: a later change to its
session adds an ``adjustment`` entry for the difference.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from chalkboard.accounts.models import User
from chalkboard.activity.services import activity_record
from chalkboard.common.decimals import decimal_for_column, decimal_too_large_message
from chalkboard.common.errors import Conflict, ValidationFailed
from chalkboard.earnings.models import EarningEntry, EarningKind, EarningStatus, Payout
from chalkboard.people.models import TeacherRate
from chalkboard.realtime.models import EventType
from chalkboard.realtime.services import event_emit
from chalkboard.scheduling.models import Session
from chalkboard.schools.models import School

NO_RATE = "The teacher has no hourly rate in this school."
ENTRY_EXISTS = "This session already has an earning entry."
ENTRIES_NOT_PENDING = "These entries are unknown or not pending in this school: {ids}."
ENTRIES_UNKNOWN = "These entries are unknown for this teacher in this school: {ids}."
ENTRIES_NOT_APPROVED = "Only approved entries can be paid. Not approved: {ids}."
PAYOUT_AMOUNT = "A payout's amount, the sum of its entries,"
PAYOUT_TOO_LARGE = decimal_too_large_message(model=Payout, name="amount", what=PAYOUT_AMOUNT)

CENTS_PER_UNIT = 100
MINUTES_PER_HOUR = 60


RateKey = tuple[int | None, bool]  # a rate's (subject id, or None for any subject; is_group)


def rate_pick(*, rates: Mapping[RateKey, Decimal], subject_id: int, is_group: bool) -> Decimal | None:
    """The hourly rate for a session, most specific first: (subject, group), (subject), (group), default.

    ``rates`` are one teacher's rates in one school, by ``(subject_id or None, is_group)``. Group rates
    apply to group sessions only. ``None`` when none applies."""
    preference: list[RateKey] = [(subject_id, False), (None, False)]
    if is_group:
        preference = [(subject_id, True), (subject_id, False), (None, True), (None, False)]
    return next((rates[choice] for choice in preference if choice in rates), None)


def earning_rate_for(*, teacher_id: int, school_id: int, subject_id: int, is_group: bool) -> Decimal | None:
    """The teacher's hourly rate in the school for a session (see ``rate_pick``); ``None`` when none applies."""
    rates = {
        (rate.subject_id, rate.is_group): rate.hourly_rate
        for rate in TeacherRate.objects.filter(teacher_id=teacher_id, school_id=school_id).only(
            "subject_id", "is_group", "hourly_rate"
        )
    }
    return rate_pick(rates=rates, subject_id=subject_id, is_group=is_group)


def earning_amount(*, hourly_rate: Decimal, minutes: int) -> Decimal:
    """``hourly_rate * minutes / 60``, exactly, rounded half up to the cent (for non-negative inputs)."""
    exact_cents = Fraction(hourly_rate) * minutes * CENTS_PER_UNIT / MINUTES_PER_HOUR
    cents = math.floor(exact_cents + Fraction(1, 2))
    return Decimal(cents).scaleb(-2)


def earning_description(*, kind: str, subject_name: str, starts_at: datetime, timezone_name: str) -> str:
    """What a session's entry says: what it pays for, the subject, and the local start in the school's zone."""
    what = "No-show" if kind == EarningKind.NO_SHOW else "Session"
    local = starts_at.astimezone(ZoneInfo(timezone_name))
    return f"{what}: {subject_name}, {local:%Y-%m-%d %H:%M} {timezone_name}"[:300]


def earning_adjustment_description(*, original_id: int, original_minutes: int, minutes: int) -> str:
    """What an adjustment says: the entry it corrects and the minutes before and after the amendment."""
    return f"Adjustment of entry {original_id}: {original_minutes} → {minutes} minutes"[:300]


def _entry_amount(amount: Decimal) -> Decimal:
    return decimal_for_column(model=EarningEntry, name="amount", value=amount, what="An earning entry's amount")


def earning_record_for_session(*, session: Session, kind: EarningKind, minutes: int) -> EarningEntry:
    """The one entry of a completed (or billable no-show) session. Call inside the session's transaction.

    A session with more than one student is a group session (group rates apply)."""
    hourly_rate = earning_rate_for(
        teacher_id=session.teacher_id,
        school_id=session.school_id,
        subject_id=session.subject_id,
        is_group=session.attendees.count() > 1,
    )
    if hourly_rate is None:
        raise Conflict(NO_RATE, code="no_rate")
    try:
        with transaction.atomic():
            return EarningEntry.objects.create(
                school_id=session.school_id,
                teacher_id=session.teacher_id,
                session=session,
                kind=kind,
                amount=_entry_amount(earning_amount(hourly_rate=hourly_rate, minutes=minutes)),
                currency=session.school.currency,
                minutes=minutes,
                hourly_rate=hourly_rate,
                earned_at=session.starts_at,
                description=earning_description(
                    kind=kind,
                    subject_name=session.subject.name,
                    starts_at=session.starts_at,
                    timezone_name=session.school.timezone,
                ),
            )
    except IntegrityError as error:  # earning_one_per_session: the backstop behind the session lock
        raise Conflict(ENTRY_EXISTS, code="earning_exists") from error


def earning_session_entry(*, session: Session) -> EarningEntry | None:
    """The session's own entry (not an adjustment), locked for the rest of the transaction."""
    return EarningEntry.objects.select_for_update().filter(session=session).exclude(kind=EarningKind.ADJUSTMENT).first()


def earning_session_amend(*, session: Session, minutes: int) -> list[EarningEntry]:
    """Bring a completed session's earnings in line with its (amended) minutes. Returns the entries written.

    A pending entry is recomputed in place. An approved or paid one stays as it is: the difference from what
    it and its adjustments already add up to becomes a new pending adjustment entry."""
    original = earning_session_entry(session=session)
    if original is None:
        return [earning_record_for_session(session=session, kind=EarningKind.SESSION, minutes=minutes)]
    amount = _entry_amount(earning_amount(hourly_rate=original.hourly_rate, minutes=minutes))
    if original.status == EarningStatus.PENDING:
        if (original.amount, original.minutes) == (amount, minutes):
            return []
        original.amount, original.minutes = amount, minutes
        original.save(update_fields=["amount", "minutes", "updated_at"])
        return [original]
    adjusted = original.adjustments.aggregate(amount=Sum("amount"), minutes=Sum("minutes"))
    delta = amount - (original.amount + (adjusted["amount"] or Decimal(0)))
    if delta == 0:
        return []
    adjustment = EarningEntry.objects.create(
        school_id=original.school_id,
        teacher_id=original.teacher_id,
        session=session,
        kind=EarningKind.ADJUSTMENT,
        adjusts=original,
        amount=_entry_amount(delta),
        currency=original.currency,
        minutes=minutes - (original.minutes + (adjusted["minutes"] or 0)),
        hourly_rate=original.hourly_rate,
        earned_at=timezone.now(),
        description=earning_adjustment_description(
            original_id=original.pk, original_minutes=original.minutes, minutes=minutes
        ),
    )
    return [adjustment]


def earnings_changed(*, school_id: int, entries: Iterable[EarningEntry]) -> None:
    """Record ``earnings.updated`` for each teacher whose entries changed (no-op when none did)."""
    by_teacher: dict[int, list[int]] = defaultdict(list)
    for entry in entries:
        by_teacher[entry.teacher_id].append(entry.pk)
    for teacher_id, entry_ids in sorted(by_teacher.items()):
        event_emit(
            type=EventType.EARNINGS_UPDATED,
            school_id=school_id,
            teacher_id=teacher_id,
            data={"teacher_id": teacher_id, "school_id": school_id, "entry_ids": sorted(entry_ids)},
        )


def _missing(requested: Sequence[int], found: Iterable[int]) -> list[int]:
    return sorted(set(requested) - set(found))


@transaction.atomic
def earnings_approve(*, actor: User, school: School, entry_ids: Sequence[int]) -> list[EarningEntry]:
    """Approve pending entries of ``school``. Any id that is not a pending entry of this school refuses all."""
    entries = list(
        EarningEntry.objects.select_for_update(of=("self",))
        .filter(school=school, pk__in=entry_ids, status=EarningStatus.PENDING)
        .select_related("teacher__user")
        .order_by("pk")
    )
    missing = _missing(entry_ids, (entry.pk for entry in entries))
    if missing:
        message = ENTRIES_NOT_PENDING.format(ids=", ".join(map(str, missing)))
        raise ValidationFailed(message, fields={"entry_ids": [message]})
    now = timezone.now()
    for entry in entries:
        entry.status, entry.approved_at, entry.approved_by, entry.updated_at = EarningStatus.APPROVED, now, actor, now
    EarningEntry.objects.bulk_update(entries, ["status", "approved_at", "approved_by", "updated_at"])
    by_teacher: dict[int, list[EarningEntry]] = defaultdict(list)
    for entry in entries:
        by_teacher[entry.teacher_id].append(entry)
    for teacher_id, approved in sorted(by_teacher.items()):
        activity_record(
            actor=actor,
            verb="earnings.approved",
            object_type="earning_entry",
            object_id=None,
            school_id=school.pk,
            teacher_id=teacher_id,
            data={"entry_ids": [entry.pk for entry in approved], "amount": str(sum(e.amount for e in approved))},
        )
    earnings_changed(school_id=school.pk, entries=entries)
    return entries


@transaction.atomic
def payout_create(
    *, actor: User, school: School, teacher_id: int, entry_ids: Sequence[int], reference: str = ""
) -> Payout:
    """Pay approved entries of one teacher in one school: they become ``paid`` under a new payout."""
    entries = list(
        EarningEntry.objects.select_for_update().filter(school=school, teacher_id=teacher_id, pk__in=entry_ids)
    )
    unknown = _missing(entry_ids, (entry.pk for entry in entries))
    if unknown:
        message = ENTRIES_UNKNOWN.format(ids=", ".join(map(str, unknown)))
        raise ValidationFailed(message, fields={"entry_ids": [message]})
    not_approved = sorted(entry.pk for entry in entries if entry.status != EarningStatus.APPROVED)
    if not_approved:
        raise Conflict(ENTRIES_NOT_APPROVED.format(ids=", ".join(map(str, not_approved))), code="not_approved")
    amount = decimal_for_column(
        model=Payout,
        name="amount",
        value=sum((entry.amount for entry in entries), Decimal("0.00")),
        what=PAYOUT_AMOUNT,
        input_field="entry_ids",
    )
    payout = Payout.objects.create(
        school=school,
        teacher_id=teacher_id,
        amount=amount,
        currency=school.currency,
        paid_at=timezone.now(),
        reference=reference,
        created_by=actor,
    )
    EarningEntry.objects.filter(pk__in=[entry.pk for entry in entries]).update(
        status=EarningStatus.PAID, payout=payout, updated_at=payout.paid_at
    )
    activity_record(
        actor=actor,
        verb="payout.created",
        object_type="payout",
        object_id=payout.pk,
        school_id=school.pk,
        teacher_id=teacher_id,
        data={"entry_ids": sorted(entry.pk for entry in entries), "amount": str(payout.amount)},
    )
    earnings_changed(school_id=school.pk, entries=entries)
    return payout
