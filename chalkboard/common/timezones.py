"""Calendar arithmetic in a school's time zone: "today", "this month" are always local to the school."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

# Names the system's zone database holds that are not places: the machine's own setting, and a zone that
# means "not configured".
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    """The IANA time zones a school may be in: the zone database's names, less those that are no place."""
    return frozenset(zoneinfo.available_timezones()) - NOT_PLACES


def is_iana_zone(name: str) -> bool:
    return name in iana_zones()


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day starts (DST-safe: built from the wall clock, not by adding hours)."""
    return datetime.combine(day, time.min, tzinfo=zone)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    first = month_start(day)
    return (first + timedelta(days=32)).replace(day=1)


def previous_month(day: date) -> date:
    return (month_start(day) - timedelta(days=1)).replace(day=1)


@dataclass(frozen=True)
class LocalCalendar:
    """Boundaries of today, this month and last month at one instant, in one zone."""

    zone: ZoneInfo
    now: datetime

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    @property
    def today_start(self) -> datetime:
        return local_midnight(self.today, self.zone)

    @property
    def tomorrow_start(self) -> datetime:
        return local_midnight(self.today + timedelta(days=1), self.zone)

    def days_ahead(self, days: int) -> datetime:
        return local_midnight(self.today + timedelta(days=days), self.zone)

    @property
    def month_start(self) -> datetime:
        return local_midnight(month_start(self.today), self.zone)

    @property
    def next_month_start(self) -> datetime:
        return local_midnight(next_month(self.today), self.zone)

    @property
    def last_month_start(self) -> datetime:
        return local_midnight(previous_month(self.today), self.zone)
