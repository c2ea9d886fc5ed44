"""Formatting for the progress page: the history chart's points, days, and the API's codes in words."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import template

register = template.Library()

# The history chart's plot area in its view box (``0 0 320 110``): 100% on the top line, 0% on the bottom one,
# the labels of the lines to the left of it.
CHART_LEFT = 40
CHART_RIGHT = 310
CHART_TOP = 10
CHART_BOTTOM = 100


@register.filter
def chart_points(history: list[dict[str, str]]) -> list[dict[str, Any]]:
    """History points (oldest first) placed on the chart: spread evenly from left to right, a lone point in
    the middle, each at the height of its percentage."""
    width = CHART_RIGHT - CHART_LEFT
    if len(history) > 1:
        start, step = float(CHART_LEFT), width / (len(history) - 1)
    else:
        start, step = CHART_LEFT + width / 2, 0.0
    scale = (CHART_BOTTOM - CHART_TOP) / 100
    return [
        {**point, "x": f"{start + index * step:.1f}", "y": f"{CHART_BOTTOM - float(point['percentage']) * scale:.1f}"}
        for index, point in enumerate(history)
    ]


@register.filter
def day(value: str | None) -> str:
    """An API date (``2026-06-30``) as people read it: ``30 Jun 2026``."""
    if not value:
        return ""
    moment = date.fromisoformat(value)
    return f"{moment.day} {moment:%b %Y}"


@register.filter
def words(value: str) -> str:
    """An API code (``not_started``) in words: ``Not started``."""
    return value.replace("_", " ").capitalize()


@register.filter
def skill_name(skill_id: int | None, skills: list[dict[str, Any]]) -> str:
    """The name of a goal's skill, from the subject's skills on the page (empty for a whole-subject goal, or
    a skill not yet assessed)."""
    return next((item["skill"]["name"] for item in skills if item["skill"]["id"] == skill_id), "")
