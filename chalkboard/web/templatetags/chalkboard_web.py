"""Formatting for the pages: times in the school's zone, amounts with their currency."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import template

register = template.Library()


@register.filter
def local_time(value: str | datetime | None, zone: str) -> str:
    """An API time (ISO 8601, UTC), or a model's, as the school reads it: ``Fri 4 Dec, 21:00``."""
    if not value:
        return ""
    moment = (value if isinstance(value, datetime) else datetime.fromisoformat(value)).astimezone(ZoneInfo(zone))
    return f"{moment:%a} {moment.day} {moment:%b}, {moment:%H:%M}"


@register.filter
def local_clock(value: str, zone: str) -> str:
    """Only the hour and minute of an API time, in the school's zone: ``21:00``."""
    return f"{datetime.fromisoformat(value).astimezone(ZoneInfo(zone)):%H:%M}"


@register.filter
def percent_width(share: float) -> str:
    """A share of 0 to 1 as an SVG width in percent, never below a hairline so a zero still shows."""
    return f"{max(share * 100, 0.5):.2f}%"
