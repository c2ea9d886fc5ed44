"""Writes to the earnings ledger: entries for sessions, corrections, approvals and payouts.

Money is exact: amounts are computed from the hourly rate and the minutes as rational numbers and rounded
once, half up, to the cent, and checked against the column that keeps them. An entry that was approved or
paid is never rewritten: a later change to its session adds an ``adjustment`` entry for the difference.

Pay that someone stands behind: pay a teacher claims beyond their school's bounds (too long after the
session, or too far over its plan) is ``held`` until the school's owners or admins release it (it becomes
``pending``) or reject it (``rejected``: never paid, counted nowhere). Pay written by the school's owners and
admins themselves is theirs to stand behind and is never held.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import cast
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from chalkboard.activity.services import activity_record
from chalkboard.common.decimals import decimal_for_column, decimal_too_large_message
from chalkboard.common.errors import Conflict, ValidationFailed
from chalkboard.common.rows import Columns, rows_insert
from chalkboard.earnings.models import EarningEntry, EarningKind, EarningStatus, Payout, ReviewDecision
from chalkboard.people.models import TeacherRate
from chalkboard.realtime.models import EventType
from chalkboard.realtime.services import EventDraft, events_emit
from chalkboard.scheduling.models import Session
from chalkboard.schools.access import Action, Viewer
from chalkboard.schools.models import School

NO_RATE = "The teacher has no hourly rate in this school."
ENTRY_EXISTS = "This session already has an earning entry."
ENTRIES_NOT_PENDING = "These entries are unknown or not pending in this school: {ids}."
ENTRIES_UNKNOWN = "These entries are unknown for this teacher in this school: {ids}."
ENTRIES_NOT_APPROVED = "Only approved entries can be paid. Not approved: {ids}."
PAYOUT_AMOUNT = "A payout's amount, the sum of its entries,"
PAYOUT_TOO_LARGE = decimal_too_large_message(model=Payout, name="amount", what=PAYOUT_AMOUNT)
ENTRIES_NOT_HELD = "These entries are unknown or not held for review in this school: {ids}."
REJECT_BUILT_UPON = (
    "Later amendments of the same session build on entries {ids}: release them, or amend the session to what "
    "it should pay and review its newest entry."
)
PAYOUT_NEGATIVE = "A payout cannot be below zero: these entries add up to {amount}."
AMEND_WINDOW_CLOSED = "This session was paid more than {days} days ago: the school no longer accepts amendments to it."
HOLD_LATE = (
    "Claimed {days} days after the session started; the school reviews claims made more than {limit} days after."
)
HOLD_OVERRUN = (
    "{minutes} minutes on a {planned}-minute plan; the school reviews anything more than {limit} minutes over the plan."
)

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


# ``rate_pick``'s order in SQL, read with the session it applies to (``session``: the alias of a row with the
# session's ``teacher_id``, ``school_id`` and ``subject_id``): the most specific rate first, group rates for
# group sessions only. Plain SQL that SQLite and PostgreSQL both run; a test holds it to ``rate_pick``.
_RATE_SQL = """(SELECT rate.hourly_rate FROM people_teacherrate AS rate
 WHERE rate.teacher_id = {session}.teacher_id AND rate.school_id = {session}.school_id
   AND (rate.subject_id = {session}.subject_id OR rate.subject_id IS NULL){one_to_one}
 ORDER BY rate.subject_id IS NULL, rate.is_group DESC LIMIT 1)"""


def session_rate_sql(*, session: str, is_group: bool) -> str:
    """The SQL expression of the hourly rate that applies to the session row aliased ``session``."""
    return _RATE_SQL.format(session=session, one_to_one="" if is_group else " AND NOT rate.is_group")


# The same for a session given by its ids.
_RATE_OF_IDS_SQL = {
    is_group: f"SELECT {session_rate_sql(session='session', is_group=is_group)} "  # noqa: S608 (constant SQL)  # nosec B608
    "FROM (SELECT %s AS teacher_id, %s AS school_id, %s AS subject_id) AS session"
    for is_group in (False, True)
}


def earning_rate_for(*, teacher_id: int, school_id: int, subject_id: int, is_group: bool) -> Decimal | None:
    """The teacher's hourly rate in the school for a session (see ``rate_pick``); ``None`` when none applies."""
    with connection.cursor() as cursor:
        cursor.execute(_RATE_OF_IDS_SQL[is_group], [teacher_id, school_id, subject_id])
        (value,) = cursor.fetchone()
    return hourly_rate_read(value)


ONE_TO_ONE_RATE, GROUP_RATE = "one_to_one_rate", "group_rate"
NOT_READ = object()
_RATE_COLUMN = Columns(TeacherRate, "rate", ["hourly_rate"])


def hourly_rate_read(value: object) -> Decimal | None:
    """A rate as ``session_rate_sql``'s expression returns it (SQLite: a float), as the ORM reads it."""
    return None if value is None else cast(Decimal, _RATE_COLUMN.value(0, value))


def earning_amount_checked(amount: Decimal) -> Decimal:
    """``amount`` if the ledger's column holds it; a clear 400 otherwise, never a database error."""
    return decimal_for_column(model=EarningEntry, name="amount", value=amount, what="An earning entry's amount")


def earning_hold_reason(*, session: Session, minutes: int, now: datetime) -> str:
    """Why pay claimed now for ``minutes`` of ``session`` needs the school's review, or ``""``: claimed more
    than the school's ``late_claim_days`` after the session started, or more than its ``overrun_minutes``
    beyond the plan. ``session.school`` is read (the callers have it loaded)."""
    school = session.school
    reasons = []
    late = now - session.starts_at
    if late > timedelta(days=school.late_claim_days):
        reasons.append(HOLD_LATE.format(days=late.days, limit=school.late_claim_days))
    if minutes > session.planned_duration_minutes + school.overrun_minutes:
        reasons.append(
            HOLD_OVERRUN.format(minutes=minutes, planned=session.planned_duration_minutes, limit=school.overrun_minutes)
        )
    return " ".join(reasons)[:300]


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
    """What an adjustment says: the entry it corrects and the session's minutes before (``original_minutes``)
    and after the amendment."""
    return f"Adjustment of entry {original_id}: {original_minutes} → {minutes} minutes"[:300]


def earning_record_for_session(
    *, session: Session, kind: EarningKind, minutes: int, by_staff: bool = False, students: int | None = None
) -> EarningEntry:
    """The one entry of a completed (or billable no-show) session. Call inside the session's transaction,
    with ``session.school`` and ``session.subject`` loaded.

    A session with more than one student (``students``, counted here unless the caller has) is a group
    session: group rates apply. Unless the school's staff wrote it (``by_staff``), pay beyond the school's
    bounds is ``held`` (see ``earning_hold_reason``)."""
    if students is None:
        students = session.attendees.count()
    is_group = students > 1
    # The rates the caller read with the session (``session_rate_sql``), or read now.
    known = getattr(session, GROUP_RATE if is_group else ONE_TO_ONE_RATE, NOT_READ)
    hourly_rate: Decimal | None = (
        earning_rate_for(
            teacher_id=session.teacher_id, school_id=session.school_id, subject_id=session.subject_id, is_group=is_group
        )
        if known is NOT_READ
        else cast(Decimal | None, known)
    )
    if hourly_rate is None:
        raise Conflict(NO_RATE, code="no_rate")
    amount = earning_amount_checked(earning_amount(hourly_rate=hourly_rate, minutes=minutes))
    hold_reason = (
        "" if by_staff or amount <= 0 else earning_hold_reason(session=session, minutes=minutes, now=timezone.now())
    )
    try:
        # No savepoint: a clash aborts the caller's transaction, which the Conflict then rolls back whole.
        entry = EarningEntry(
            school_id=session.school_id,
            teacher_id=session.teacher_id,
            session=session,
            kind=kind,
            status=EarningStatus.HELD if hold_reason else EarningStatus.PENDING,
            hold_reason=hold_reason,
            amount=amount,
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
        rows_insert([entry])  # on every completion's path: plain SQL (chalkboard.common.rows)
        return entry
    except IntegrityError as error:  # earning_one_per_session: the backstop behind the session lock
        raise Conflict(ENTRY_EXISTS, code="earning_exists") from error


def _require_amendable(*, session: Session, entries: Sequence[EarningEntry], now: datetime) -> None:
    """A session first paid more than the school's ``paid_amend_days`` ago is closed to amendments."""
    first_paid = min((entry.payout.paid_at for entry in entries if entry.payout is not None), default=None)
    days = session.school.paid_amend_days
    if first_paid is not None and now - first_paid > timedelta(days=days):
        raise Conflict(AMEND_WINDOW_CLOSED.format(days=days), code="amend_window_closed")


def earning_session_amend(
    *, session: Session, minutes: int, previous_minutes: int | None = None, by_staff: bool = False
) -> list[EarningEntry]:
    """Bring a completed session's earnings in line with its (amended) minutes. Returns the entries written.
    Call inside the session's transaction, with ``session.school`` loaded.

    Refused (409) when the session was first paid longer ago than the school allows. A pending or held entry
    is recomputed in place; an approved or paid one stays as it is: the difference from what it and its
    adjustments (rejected ones aside) add up to becomes a new adjustment entry, whose text says the minutes
    the session had before (``previous_minutes``; by default what the ledger counted) and after. An increase
    the teacher claims beyond the school's bounds is held; a held entry stays held until staff decide. A
    rejected entry is final: its session's amendments pay nothing more."""
    now = timezone.now()
    entries = list(
        EarningEntry.objects.select_for_update(of=("self",)).filter(session=session).select_related("payout")
    )
    original = next((entry for entry in entries if entry.kind != EarningKind.ADJUSTMENT), None)
    if original is None:
        return [
            earning_record_for_session(session=session, kind=EarningKind.SESSION, minutes=minutes, by_staff=by_staff)
        ]
    _require_amendable(session=session, entries=entries, now=now)
    if original.status == EarningStatus.REJECTED:
        return []
    amount = earning_amount_checked(earning_amount(hourly_rate=original.hourly_rate, minutes=minutes))

    def hold_reason_for(increase: Decimal) -> str:
        return "" if by_staff or increase <= 0 else earning_hold_reason(session=session, minutes=minutes, now=now)

    if original.status in (EarningStatus.PENDING, EarningStatus.HELD):
        if (original.amount, original.minutes) == (amount, minutes):
            return []
        reason = hold_reason_for(amount - original.amount)
        if reason:
            original.status, original.hold_reason = EarningStatus.HELD, reason
        original.amount, original.minutes = amount, minutes
        original.save(update_fields=["amount", "minutes", "status", "hold_reason", "updated_at"])
        return [original]
    standing = [
        entry for entry in entries if entry.adjusts_id == original.pk and entry.status != EarningStatus.REJECTED
    ]
    counted_amount = original.amount + sum((entry.amount for entry in standing), Decimal(0))
    counted_minutes = original.minutes + sum(entry.minutes for entry in standing)
    delta = earning_amount_checked(amount - counted_amount)
    if delta == 0:
        return []
    reason = hold_reason_for(delta)
    adjustment = EarningEntry.objects.create(
        school_id=original.school_id,
        teacher_id=original.teacher_id,
        session=session,
        kind=EarningKind.ADJUSTMENT,
        status=EarningStatus.HELD if reason else EarningStatus.PENDING,
        hold_reason=reason,
        adjusts=original,
        amount=delta,
        currency=original.currency,
        minutes=minutes - counted_minutes,
        hourly_rate=original.hourly_rate,
        earned_at=now,
        description=earning_adjustment_description(
            original_id=original.pk,
            original_minutes=counted_minutes if previous_minutes is None else previous_minutes,
            minutes=minutes,
        ),
    )
    return [adjustment]


def earnings_events(*, school_id: int, entries: Iterable[EarningEntry]) -> list[EventDraft]:
    """``earnings.updated`` for each teacher whose entries changed (none when none did), to record."""
    by_teacher: dict[int, list[int]] = defaultdict(list)
    for entry in entries:
        by_teacher[entry.teacher_id].append(entry.pk)
    return [
        EventDraft(
            EventType.EARNINGS_UPDATED,
            school_id,
            teacher_id,
            {"teacher_id": teacher_id, "school_id": school_id, "entry_ids": sorted(entry_ids)},
        )
        for teacher_id, entry_ids in sorted(by_teacher.items())
    ]


def earnings_changed(*, school_id: int, entries: Iterable[EarningEntry]) -> None:
    """Record ``earnings.updated`` for each teacher whose entries changed (no-op when none did)."""
    events_emit(earnings_events(school_id=school_id, entries=entries))


def _missing(requested: Sequence[int], found: Iterable[int]) -> list[int]:
    return sorted(set(requested) - set(found))


def _entries_locked(
    *, school: School, entry_ids: Sequence[int], status: EarningStatus, refusal: str
) -> list[EarningEntry]:
    """The entries of ``school`` with these ids in ``status``, locked, in id order; a 400 naming every id that
    is not one (``refusal`` takes ``{ids}``)."""
    entries = list(
        EarningEntry.objects.select_for_update(of=("self",))
        .filter(school=school, pk__in=entry_ids, status=status)
        .select_related("teacher__user")
        .order_by("pk")
    )
    missing = _missing(entry_ids, (entry.pk for entry in entries))
    if missing:
        message = refusal.format(ids=", ".join(map(str, missing)))
        raise ValidationFailed(message, fields={"entry_ids": [message]})
    return entries


@transaction.atomic
def earnings_approve(*, viewer: Viewer, school: School, entry_ids: Sequence[int]) -> list[EarningEntry]:
    """Approve pending entries of ``school``. Any id that is not a pending entry of this school refuses all."""
    viewer.require(Action.EARNINGS_MANAGE, school.pk)
    entries = _entries_locked(
        school=school, entry_ids=entry_ids, status=EarningStatus.PENDING, refusal=ENTRIES_NOT_PENDING
    )
    now = timezone.now()
    for entry in entries:
        entry.status, entry.approved_at, entry.approved_by, entry.updated_at = (
            EarningStatus.APPROVED,
            now,
            viewer.user,
            now,
        )
    EarningEntry.objects.bulk_update(entries, ["status", "approved_at", "approved_by", "updated_at"])
    by_teacher: dict[int, list[EarningEntry]] = defaultdict(list)
    for entry in entries:
        by_teacher[entry.teacher_id].append(entry)
    for teacher_id, approved in sorted(by_teacher.items()):
        activity_record(
            actor=viewer.user,
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
    *, viewer: Viewer, school: School, teacher_id: int, entry_ids: Sequence[int], reference: str = ""
) -> Payout:
    """Pay approved entries of one teacher in one school: they become ``paid`` under a new payout."""
    viewer.require(Action.EARNINGS_MANAGE, school.pk)
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
    total = sum((entry.amount for entry in entries), Decimal("0.00"))
    if total < 0:  # a negative adjustment is paid with enough positive pay, never alone
        raise Conflict(PAYOUT_NEGATIVE.format(amount=total), code="payout_negative")
    total = decimal_for_column(model=Payout, name="amount", value=total, what=PAYOUT_AMOUNT, input_field="entry_ids")
    payout = Payout.objects.create(
        school=school,
        teacher_id=teacher_id,
        amount=total,
        currency=school.currency,
        paid_at=timezone.now(),
        reference=reference,
        created_by=viewer.user,
    )
    EarningEntry.objects.filter(pk__in=[entry.pk for entry in entries]).update(
        status=EarningStatus.PAID, payout=payout, updated_at=payout.paid_at
    )
    activity_record(
        actor=viewer.user,
        verb="payout.created",
        object_type="payout",
        object_id=payout.pk,
        school_id=school.pk,
        teacher_id=teacher_id,
        data={"entry_ids": sorted(entry.pk for entry in entries), "amount": str(payout.amount)},
    )
    earnings_changed(school_id=school.pk, entries=entries)
    return payout


REVIEW_OUTCOME = {ReviewDecision.RELEASE: EarningStatus.PENDING, ReviewDecision.REJECT: EarningStatus.REJECTED}


def _built_upon(entries: Sequence[EarningEntry], deciding: Sequence[int]) -> list[int]:
    """Those of ``entries`` that a later, standing entry of the same session (not among ``deciding``) was
    computed on top of: rejecting them would leave the session's ledger adding up to something it never had."""
    sessions = {entry.session_id for entry in entries if entry.session_id is not None}
    later = (
        EarningEntry.objects.filter(session_id__in=sessions)
        .exclude(status=EarningStatus.REJECTED)
        .exclude(pk__in=deciding)
        .values_list("session_id", "pk")
    )
    newest: dict[int, int] = {}
    for session_id, pk in later:
        newest[session_id] = max(pk, newest.get(session_id, 0))
    return sorted(entry.pk for entry in entries if newest.get(entry.session_id or 0, 0) > entry.pk)


@transaction.atomic
def earnings_review(
    *, viewer: Viewer, school: School, entry_ids: Sequence[int], decision: ReviewDecision, reason: str = ""
) -> list[EarningEntry]:
    """Staff's decision on held entries of ``school``: release them (``pending``) or reject them (``rejected``).
    Any id that is not a held entry of this school refuses all (400). A held adjustment that a later
    amendment built on can only be released (409 on reject)."""
    viewer.require(Action.EARNINGS_MANAGE, school.pk)
    entries = _entries_locked(school=school, entry_ids=entry_ids, status=EarningStatus.HELD, refusal=ENTRIES_NOT_HELD)
    if decision == ReviewDecision.REJECT:
        built_upon = _built_upon(entries, deciding=entry_ids)
        if built_upon:
            raise Conflict(REJECT_BUILT_UPON.format(ids=", ".join(map(str, built_upon))), code="review_built_upon")
    now = timezone.now()
    for entry in entries:
        entry.status, entry.updated_at = REVIEW_OUTCOME[decision], now
    EarningEntry.objects.bulk_update(entries, ["status", "updated_at"])
    by_teacher: dict[int, list[EarningEntry]] = defaultdict(list)
    for entry in entries:
        by_teacher[entry.teacher_id].append(entry)
    verb = "earnings.released" if decision == ReviewDecision.RELEASE else "earnings.rejected"
    for teacher_id, decided in sorted(by_teacher.items()):
        activity_record(
            actor=viewer.user,
            verb=verb,
            object_type="earning_entry",
            object_id=None,
            school_id=school.pk,
            teacher_id=teacher_id,
            data={
                "entry_ids": [entry.pk for entry in decided],
                "amount": str(sum(entry.amount for entry in decided)),
                "reason": reason,
            },
        )
    earnings_changed(school_id=school.pk, entries=entries)
    return entries
