"""Reads of the earnings ledger, always scoped to the viewer first.

Periods and date ranges are in the school's time zone: a session at 23:30 on the last day of a month, local
time, belongs to that month even when it is already the next day in UTC. Weeks start on Monday.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from chalkboard.common.decimals import ExactSum
from chalkboard.common.errors import NotFound, ValidationFailed
from chalkboard.common.timezones import local_midnight, month_start, next_month
from chalkboard.earnings.models import COUNTED, EarningEntry, EarningKind, EarningStatus, Payout
from chalkboard.people.models import Teacher
from chalkboard.people.selectors import teacher_get_for_viewer
from chalkboard.schools.access import STAFF, Action, Viewer
from chalkboard.schools.models import Role, School

MAX_RANGE_DAYS = 731
# Dates outside these bounds are refused as input: far enough for any real ledger, and never near the
# edges of what dates and time zones can represent.
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(2999, 12, 31)
DATE_OUT_OF_BOUNDS = f"Dates must lie between {EARLIEST_DATE} and {LATEST_DATE}."
RANGE_REVERSED = "`from` must not be after `to`."
RANGE_TOO_LONG = f"The range may span at most {MAX_RANGE_DAYS} days."
DEFAULT_MONTHS_BACK = 11

CENT = Decimal("0.01")
MONEY_KEYS = ("earned", "pending", "approved", "paid", "held")


class GroupBy(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


TRUNCATE = {GroupBy.DAY: TruncDay, GroupBy.WEEK: TruncWeek, GroupBy.MONTH: TruncMonth}


def earning_visibility(viewer: Viewer) -> Q:
    """Every entry of the schools the viewer runs; a teacher's own entries in the schools they teach in."""
    visible = Q(school_id__in=viewer.schools_where(*STAFF))
    teaching = viewer.schools_where(Role.TEACHER)
    if teaching:
        visible |= Q(school_id__in=teaching, teacher_id=viewer.teacher_id)
    return visible


def _local_bounds(zone: zoneinfo.ZoneInfo, date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[start of ``date_from``, start of the day after ``date_to``) in ``zone``."""
    return local_midnight(date_from, zone), local_midnight(date_to + timedelta(days=1), zone)


def earning_entry_list(
    *,
    viewer: Viewer,
    school_id: int | None = None,
    teacher_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    session_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[EarningEntry]:
    """Visible entries, newest first. ``date_from``/``date_to`` are days in the ``school_id``'s time zone
    when it is given, in UTC otherwise."""
    entries = EarningEntry.objects.filter(earning_visibility(viewer))
    filters = {"school_id": school_id, "teacher_id": teacher_id, "status": status, "kind": kind}
    entries = entries.filter(**{name: value for name, value in filters.items() if value is not None})
    if session_id is not None:
        entries = entries.filter(session_id=session_id)
    if date_from is not None or date_to is not None:
        zone = _zone_of(viewer=viewer, school_id=school_id)
        if date_from is not None:
            entries = entries.filter(earned_at__gte=local_midnight(date_from, zone))
        if date_to is not None:
            entries = entries.filter(earned_at__lt=local_midnight(date_to + timedelta(days=1), zone))
    return entries.select_related("teacher__user").order_by("-earned_at", "-id")


def _zone_of(*, viewer: Viewer, school_id: int | None) -> zoneinfo.ZoneInfo:
    if school_id is None or school_id not in viewer.roles:
        return zoneinfo.ZoneInfo("UTC")
    return School.objects.only("timezone").get(pk=school_id).zone


def payout_list(*, viewer: Viewer, school_id: int | None = None, teacher_id: int | None = None) -> QuerySet[Payout]:
    """Visible payouts, newest first, with the ids of the entries each one settled."""
    payouts = Payout.objects.filter(earning_visibility(viewer))
    if school_id is not None:
        payouts = payouts.filter(school_id=school_id)
    if teacher_id is not None:
        payouts = payouts.filter(teacher_id=teacher_id)
    return (
        payouts.select_related("teacher__user")
        .prefetch_related(Prefetch("entries", queryset=EarningEntry.objects.only("id", "payout_id").order_by("id")))
        .order_by("-paid_at", "-id")
    )


def earnings_school_for_manager(*, viewer: Viewer, school_id: int) -> School:
    """A school whose earnings the viewer approves and pays: 404 outside their schools, 403 without the role."""
    if school_id not in viewer.roles:
        raise NotFound()
    viewer.require(Action.EARNINGS_MANAGE, school_id)
    return School.objects.get(pk=school_id)


def earnings_scope_for(*, viewer: Viewer, teacher_id: int, school_id: int | None) -> tuple[Teacher, School]:
    """The teacher and the school whose earnings the viewer asked for.

    The viewer may read a teacher's earnings in a school the teacher teaches in if they run that school, or
    if they are that teacher. Without ``school_id``: the first such school by id. Anything else is 404."""
    teacher = teacher_get_for_viewer(viewer=viewer, teacher_id=teacher_id)
    own = teacher.pk == viewer.teacher_id
    schools = [
        school
        for school in School.objects.filter(
            memberships__user_id=teacher.pk, memberships__role=Role.TEACHER, memberships__is_active=True
        ).order_by("pk")
        if viewer.is_staff_of(school.pk) or (own and viewer.teaches_in(school.pk))
    ]
    chosen = next((school for school in schools if school_id in (None, school.pk)), None)
    if chosen is None:
        raise NotFound()
    return teacher, chosen


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def earnings_range(
    *, school: School, date_from: date | None, date_to: date | None, today: date | None = None
) -> tuple[date, date]:
    """The inclusive range asked for, with defaults: up to today (in the school's time zone), from the first
    day of the month eleven months before the end. At most ``MAX_RANGE_DAYS`` days."""
    date_to = date_to or today or timezone.localdate(timezone=school.zone)
    date_from = date_from or _months_before(date_to, DEFAULT_MONTHS_BACK)
    if date_from > date_to:
        raise ValidationFailed(RANGE_REVERSED, fields={"from": [RANGE_REVERSED]})
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(RANGE_TOO_LONG, fields={"from": [RANGE_TOO_LONG], "to": [RANGE_TOO_LONG]})
    return date_from, date_to


def _period_starts(date_from: date, date_to: date, group_by: GroupBy) -> list[date]:
    if group_by == GroupBy.DAY:
        return [date_from + timedelta(days=n) for n in range((date_to - date_from).days + 1)]
    if group_by == GroupBy.WEEK:
        monday = date_from - timedelta(days=date_from.weekday())
        return [monday + timedelta(weeks=n) for n in range((date_to - monday).days // 7 + 1)]
    starts = [month_start(date_from)]
    while next_month(starts[-1]) <= date_to:
        starts.append(next_month(starts[-1]))
    return starts


def _money(value: Decimal | None) -> str:
    return str((value or Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP))


def _hours(minutes: int | None) -> str:
    return str((Decimal(minutes or 0) / 60).quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass
class _Tally:
    earned: Decimal = Decimal(0)
    pending: Decimal = Decimal(0)
    approved: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    held: Decimal = Decimal(0)
    sessions: int = 0
    minutes: int = 0

    def add(self, row: Mapping[str, Any]) -> None:
        for key in MONEY_KEYS:
            setattr(self, key, getattr(self, key) + (row[key] or Decimal(0)))
        self.sessions += row["sessions"]
        self.minutes += row["minutes"] or 0

    def as_dict(self) -> dict[str, Any]:
        money = {key: _money(getattr(self, key)) for key in MONEY_KEYS}
        return {**money, "sessions": self.sessions, "hours": _hours(self.minutes)}


def earnings_summary(
    *, teacher: Teacher, school: School, date_from: date, date_to: date, group_by: GroupBy
) -> dict[str, Any]:
    """Totals and one row per period (every period of the range, empty ones included), in one query; and
    what awaits the school's review whatever its date, in one more.

    ``earned`` counts every pending, approved or paid entry, adjustments included; ``held`` what is held for
    review (counted in nothing else); rejected entries count nowhere. ``sessions`` counts the distinct
    sessions with an earned entry of their own; ``hours`` are the minutes earned."""
    zone = school.zone
    start, end = _local_bounds(zone, date_from, date_to)
    rows = (
        EarningEntry.objects.filter(teacher=teacher, school=school, earned_at__gte=start, earned_at__lt=end)
        .annotate(period=TRUNCATE[group_by]("earned_at", tzinfo=zone))
        .values("period")
        .annotate(
            earned=ExactSum("amount", filter=Q(status__in=COUNTED)),
            pending=ExactSum("amount", filter=Q(status=EarningStatus.PENDING)),
            approved=ExactSum("amount", filter=Q(status=EarningStatus.APPROVED)),
            paid=ExactSum("amount", filter=Q(status=EarningStatus.PAID)),
            held=ExactSum("amount", filter=Q(status=EarningStatus.HELD)),
            sessions=Count("session", distinct=True, filter=Q(status__in=COUNTED) & ~Q(kind=EarningKind.ADJUSTMENT)),
            minutes=Sum("minutes", filter=Q(status__in=COUNTED)),
        )
        .order_by("period")
    )
    tallies = {start_day: _Tally() for start_day in _period_starts(date_from, date_to, group_by)}
    totals = _Tally()
    for row in rows:
        tallies[row["period"].astimezone(zone).date()].add(row)
        totals.add(row)
    return {
        "teacher": {"id": teacher.pk, "name": teacher.user.full_name},
        "school": {"id": school.pk, "name": school.name, "timezone": school.timezone, "currency": school.currency},
        "currency": school.currency,
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "group_by": group_by.value,
        "totals": totals.as_dict(),
        "periods": [{"start": day.isoformat(), **tally.as_dict()} for day, tally in tallies.items()],
        "awaiting_review": earnings_awaiting_review(teacher=teacher, school=school),
    }


def earnings_awaiting_review(*, teacher: Teacher, school: School) -> dict[str, Any]:
    """The teacher's entries held for the school's review, whatever their date: ``{entries, amount}``."""
    held = EarningEntry.objects.filter(teacher=teacher, school=school, status=EarningStatus.HELD).aggregate(
        entries=Count("id"), amount=ExactSum("amount")
    )
    return {"entries": held["entries"], "amount": _money(held["amount"])}


AWAITING: tuple[str, ...] = (EarningStatus.PENDING.value, EarningStatus.HELD.value)


def earnings_awaiting_in_school(*, viewer: Viewer, school_id: int) -> dict[str, Any]:
    """What waits for a school's staff among the entries the viewer sees there, whatever their date: ``pending``
    (to approve) and ``held`` (to review), each ``{entries, amount}``, for the school and in ``by_teacher``
    (by teacher id), in one query."""
    rows = (
        EarningEntry.objects.filter(earning_visibility(viewer), school_id=school_id, status__in=AWAITING)
        .values("teacher_id", "status")
        .annotate(entries=Count("id"), amount=ExactSum("amount"))
        .order_by("teacher_id", "status")
    )
    counts: dict[str, int] = dict.fromkeys(AWAITING, 0)
    amounts: dict[str, Decimal] = dict.fromkeys(AWAITING, Decimal(0))
    by_teacher: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        counts[row["status"]] += row["entries"]
        amounts[row["status"]] += row["amount"]
        teacher = by_teacher.setdefault(
            row["teacher_id"], {status: {"entries": 0, "amount": _money(None)} for status in AWAITING}
        )
        teacher[row["status"]] = {"entries": row["entries"], "amount": _money(row["amount"])}
    return {
        **{status: {"entries": counts[status], "amount": _money(amounts[status])} for status in AWAITING},
        "by_teacher": by_teacher,
    }


def earning_entries_between(
    *, teacher: Teacher, school: School, date_from: date, date_to: date
) -> QuerySet[EarningEntry]:
    """The teacher's entries in the school over the range, oldest first (the CSV export)."""
    start, end = _local_bounds(school.zone, date_from, date_to)
    return EarningEntry.objects.filter(
        teacher=teacher, school=school, earned_at__gte=start, earned_at__lt=end
    ).order_by("earned_at", "id")
