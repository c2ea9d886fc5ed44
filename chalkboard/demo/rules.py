"""The domain's arithmetic as the demo data follows it: money, scores, mastery levels and trends.

Pure functions, so the generated rows agree with what the application computes for the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

from chalkboard.progress.models import Level, Trend

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
SIXTY = Decimal(60)

# Mastery from a percentage: below each bound, the level beside it.
LEVEL_BOUNDS: tuple[tuple[Decimal, str], ...] = (
    (Decimal(40), Level.ATTEMPTED),
    (Decimal(60), Level.FAMILIAR),
    (Decimal(85), Level.PROFICIENT),
)
# A subject's percentage is the mean of its latest assessments; its trend compares the latest few with
# the few before them, and moves only beyond a margin.
PERCENTAGE_WINDOW = 5
TREND_WINDOW = 3
TREND_MARGIN = Decimal(5)

RateKey = tuple[int | None, bool]  # (subject id or None for any subject, is_group)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def earning_amount(hourly_rate: Decimal, minutes: int) -> Decimal:
    """Hourly rate times duration, rounded half-up to the cent."""
    return money(hourly_rate * minutes / SIXTY)


def assessment_percentage(score: Decimal, max_score: Decimal) -> Decimal:
    return money(score / max_score * HUNDRED)


def level_for(percentage: Decimal | None) -> str:
    if percentage is None:
        return Level.NOT_STARTED
    for bound, level in LEVEL_BOUNDS:
        if percentage < bound:
            return level
    return Level.MASTERED


def _mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


def progress_percentage(percentages: Sequence[Decimal]) -> Decimal | None:
    """The mean of the latest assessments (``percentages`` in the order they were assessed)."""
    if not percentages:
        return None
    return money(_mean(percentages[-PERCENTAGE_WINDOW:]))


def trend_for(percentages: Sequence[Decimal]) -> str:
    """Up or down when the latest assessments beat or trail the ones before them by the margin."""
    if len(percentages) < 2:
        return Trend.FLAT
    split = max(len(percentages) - TREND_WINDOW, len(percentages) // 2)
    recent = percentages[split:]
    before = percentages[max(0, split - TREND_WINDOW) : split]
    change = _mean(recent) - _mean(before)
    if change >= TREND_MARGIN:
        return Trend.UP
    if change <= -TREND_MARGIN:
        return Trend.DOWN
    return Trend.FLAT


def rate_for(rates: Mapping[RateKey, Decimal], *, subject_id: int, is_group: bool) -> Decimal:
    """The most specific rate: subject and group, then subject, then group, then the default."""
    keys: tuple[RateKey, ...] = (
        ((subject_id, True), (subject_id, False), (None, True), (None, False))
        if is_group
        else ((subject_id, False), (None, False))
    )
    for key in keys:
        if key in rates:
            return rates[key]
    raise LookupError(f"No rate for subject {subject_id} (group: {is_group}).")
