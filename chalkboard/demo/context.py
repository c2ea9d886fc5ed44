"""What every step of one school's generation shares."""

from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from chalkboard.demo.cast import SchoolPlan
from chalkboard.demo.specs import Spec
from chalkboard.demo.tables import Batch, Ids


def day_anchor(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day: every generated time is relative to it, so a seed gives the same data
    all day long, and sessions exist on the school's "today" whatever its time zone."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class SchoolContext:
    spec: Spec
    school: SchoolPlan
    anchor: datetime
    ids: Ids
    rng: random.Random
    batch: Batch
    # Teachers' sessions in the schools generated before, by teacher: (start, end), in time order.
    booked: dict[int, list[tuple[datetime, datetime]]] = field(default_factory=dict)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.school.spec.timezone)

    @property
    def first_day(self) -> date:
        """The first local day of the calendar."""
        return self.anchor.date() - timedelta(weeks=self.spec.weeks_past)

    @property
    def weeks(self) -> int:
        return self.spec.weeks_past + self.spec.weeks_future

    def at(self, day: date, clock: time) -> datetime:
        """A local wall-clock time of the school, in UTC."""
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def is_booked(self, teacher_id: int, starts_at: datetime, ends_at: datetime) -> bool:
        """Whether the teacher already teaches elsewhere at that time."""
        booked = self.booked.get(teacher_id)
        if not booked:
            return False
        before = bisect_left(booked, (ends_at,)) - 1  # the last session that starts before this one ends
        return before >= 0 and booked[before][1] > starts_at
