"""The earnings ledger: one entry per completed (or billable no-show) session, and the payouts.

Entries older than ``paid_after_days`` are paid, in one payout per teacher and local month; those older
than ``approved_after_days`` are approved; the rest are pending. Now and then a paid session was amended
afterwards: the session shows the new duration and the ledger an adjustment entry for the difference.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache

from chalkboard.demo import tables as t
from chalkboard.demo.context import SchoolContext
from chalkboard.demo.timetable import SessionDraft
from chalkboard.earnings.models import EarningKind, EarningStatus
from chalkboard.earnings.services import (
    earning_adjustment_description,
    earning_amount,
    earning_description,
    rate_pick,
)
from chalkboard.scheduling.models import SessionStatus

AMENDED_MINUTES = 15
APPROVAL_DELAY = timedelta(days=2)
AMENDMENT_DELAY = timedelta(days=1)
PAYDAY = 5  # of the month after the work
PayoutKey = tuple[int, int, int]  # teacher, year, month (local)
# The product's exact pricing, remembered: a few rates and durations price hundreds of thousands of entries.
price = cache(earning_amount)


@dataclass(slots=True, eq=False)
class EntryDraft:
    id: int
    session: SessionDraft
    kind: str
    minutes: int
    hourly_rate: Decimal
    amount: Decimal
    status: str


@dataclass(eq=False)
class PayoutDraft:
    id: int
    key: PayoutKey
    paid_at: datetime
    entries: list[EntryDraft] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return sum((entry.amount for entry in self.entries), Decimal(0))


def add_ledger_rows(ctx: SchoolContext, drafts: list[SessionDraft]) -> None:
    """Entries, payouts and adjustments. Marks the amended sessions, so call it before writing sessions."""
    entries = [entry_draft(ctx, draft) for draft in drafts if is_billable(ctx, draft)]
    payouts = group_payouts(ctx, entries)
    for payout in payouts.values():
        add_payout(ctx, payout)
    paid_in = {entry: payout for payout in payouts.values() for entry in payout.entries}
    for entry in entries:
        add_entry(ctx, entry, paid_in.get(entry))
    amended = [entry for entry in entries if entry.session.extra_minutes]
    for entry in amended:
        add_adjustment(ctx, entry, paid_in[entry])


def is_billable(ctx: SchoolContext, draft: SessionDraft) -> bool:
    return draft.status == SessionStatus.COMPLETED or (
        draft.status == SessionStatus.NO_SHOW and ctx.school.spec.no_show_billable
    )


def status_for(ctx: SchoolContext, earned_at: datetime) -> str:
    age = ctx.anchor - earned_at
    if age > timedelta(days=ctx.spec.paid_after_days):
        return EarningStatus.PAID
    if age > timedelta(days=ctx.spec.approved_after_days):
        return EarningStatus.APPROVED
    return EarningStatus.PENDING


def entry_draft(ctx: SchoolContext, draft: SessionDraft) -> EntryDraft:
    completed = draft.status == SessionStatus.COMPLETED
    minutes = draft.actual_minutes if completed and draft.actual_minutes else draft.planned_minutes
    hourly_rate = rate_pick(rates=draft.teaching.rates, subject_id=draft.subject.id, is_group=draft.is_group)
    if hourly_rate is None:  # every teacher has a default rate in each school they teach in
        raise LookupError(f"No rate for the session of teacher {draft.teaching.teacher.id}.")
    return EntryDraft(
        id=ctx.ids.next(t.EARNING_ENTRY),
        session=draft,
        kind=EarningKind.SESSION if completed else EarningKind.NO_SHOW,
        minutes=minutes,
        hourly_rate=hourly_rate,
        amount=price(hourly_rate=hourly_rate, minutes=minutes),
        status=status_for(ctx, draft.starts_at),
    )


def group_payouts(ctx: SchoolContext, entries: list[EntryDraft]) -> dict[PayoutKey, PayoutDraft]:
    """One payout per teacher and local month of work, paid early the next month (or just after the
    paid cut-off, for the latest month); a few of its sessions are marked as amended since."""
    grouped: dict[PayoutKey, list[EntryDraft]] = defaultdict(list)
    for entry in entries:
        if entry.status == EarningStatus.PAID:
            day = ctx.local_date(entry.session.starts_at)
            grouped[(entry.session.teaching.teacher.id, day.year, day.month)].append(entry)
    cutoff = ctx.anchor - timedelta(days=ctx.spec.paid_after_days)
    payouts = {}
    amendable = 0
    for key in sorted(grouped):
        _, year, month = key
        next_month = date(year + month // 12, month % 12 + 1, PAYDAY)
        paid_at = min(ctx.at(next_month, time(10)), cutoff + APPROVAL_DELAY)
        payout = PayoutDraft(id=ctx.ids.next(t.PAYOUT), key=key, paid_at=paid_at, entries=grouped[key])
        payouts[key] = payout
        amendable = mark_amendments(ctx, payout, seen=amendable)
    return payouts


def mark_amendments(ctx: SchoolContext, payout: PayoutDraft, *, seen: int) -> int:
    """Every ``adjustment_every``-th paid session (counting from the first) was amended after payment."""
    for entry in payout.entries:
        if entry.kind != EarningKind.SESSION:
            continue
        if seen % ctx.spec.adjustment_every == 0:
            entry.session.extra_minutes = AMENDED_MINUTES
            entry.session.amended_at = payout.paid_at + AMENDMENT_DELAY
        seen += 1
    return seen


def add_payout(ctx: SchoolContext, payout: PayoutDraft) -> None:
    teacher_id, year, month = payout.key
    ctx.batch.add(
        t.PAYOUT,
        id=payout.id,
        school_id=ctx.school.id,
        teacher_id=teacher_id,
        amount=payout.amount,
        currency=ctx.school.spec.currency,
        paid_at=payout.paid_at,
        reference=f"PAY-{ctx.school.id}-{teacher_id}-{year}{month:02}",
        created_by_id=ctx.school.owner.id,
        created_at=payout.paid_at,
        updated_at=payout.paid_at,
    )


def add_entry(ctx: SchoolContext, entry: EntryDraft, payout: PayoutDraft | None) -> None:
    session = entry.session
    approved_at = None
    if entry.status != EarningStatus.PENDING:
        approved_at = session.starts_at + APPROVAL_DELAY
        if payout is not None:
            approved_at = min(approved_at, payout.paid_at)
    created_at = session.completed_at or session.starts_at
    ctx.batch.add(
        t.EARNING_ENTRY,
        id=entry.id,
        school_id=ctx.school.id,
        teacher_id=session.teaching.teacher.id,
        session_id=session.id,
        kind=entry.kind,
        status=entry.status,
        amount=entry.amount,
        currency=ctx.school.spec.currency,
        minutes=entry.minutes,
        hourly_rate=entry.hourly_rate,
        earned_at=session.starts_at,
        description=earning_description(
            kind=entry.kind,
            subject_name=session.subject.name,
            starts_at=session.starts_at,
            timezone_name=ctx.school.spec.timezone,
        ),
        hold_reason="",
        approved_at=approved_at,
        approved_by_id=ctx.school.admin.id if approved_at else None,
        payout_id=payout.id if payout else None,
        adjusts_id=None,
        created_at=created_at,
        updated_at=payout.paid_at if payout else approved_at or created_at,
    )


def add_adjustment(ctx: SchoolContext, entry: EntryDraft, payout: PayoutDraft) -> None:
    """The session took longer than first recorded: the paid entry stays, and a pending adjustment, made
    when the session was amended, adds what the new duration earns beyond what was paid."""
    session = entry.session
    amended_at = session.amended_at or payout.paid_at
    minutes = entry.minutes + session.extra_minutes
    ctx.batch.add(
        t.EARNING_ENTRY,
        id=ctx.ids.next(t.EARNING_ENTRY),
        school_id=ctx.school.id,
        teacher_id=session.teaching.teacher.id,
        session_id=session.id,
        kind=EarningKind.ADJUSTMENT,
        status=EarningStatus.PENDING,
        amount=price(hourly_rate=entry.hourly_rate, minutes=minutes) - entry.amount,
        currency=ctx.school.spec.currency,
        minutes=session.extra_minutes,
        hourly_rate=entry.hourly_rate,
        earned_at=amended_at,
        description=earning_adjustment_description(
            original_id=entry.id, original_minutes=entry.minutes, minutes=minutes
        ),
        hold_reason="",
        approved_at=None,
        approved_by_id=None,
        payout_id=None,
        adjusts_id=entry.id,
        created_at=amended_at,
        updated_at=amended_at,
    )
