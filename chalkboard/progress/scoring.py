"""How assessments turn into a student's standing: pure functions, no database.

The product's rules, in one place:

- **Percentage of one assessment**: ``score / max_score x 100``, to 0.01, halves rounded up.
- **Evidence**: a scope (a student in a subject, or in one skill of it) is judged on its
  ``EVIDENCE_LIMIT`` (20) most recent assessments, newest first. Older history no longer moves the standing.
- **Progress percentage**: a recency-weighted mean of the evidence. The k-th most recent assessment
  (k = 0 for the newest) weighs ``RECENCY_DECAY ** k`` = 0.8^k, so the newest counts 1, the one before
  0.8, then 0.64, ... and the 20th about 0.014. A student who improves sees it within a few assessments,
  while one bad day does not erase a record (the newest is about a fifth of the weight of a long record).
- **Level**, from that percentage ``p`` and the number of assessments ``n`` in the evidence:
  ``not_started`` when there is none; ``attempted`` when ``p < 40``, or when ``n < 2`` and ``p < 60``;
  ``familiar`` when ``p < 60``; ``proficient`` when ``p < 85``; ``mastered`` when ``p ≥ 85`` backed by at
  least 3 assessments, else ``proficient`` (one or two good marks are not mastery).
- **Trend**, as of a moment ``now``: the plain mean of the evidence assessed in the last 28 days
  ``(now - 28d, now]`` against the mean of the 28 days before ``(now - 56d, now - 28d]``. When either
  window is empty, the mean of the 3 most recent assessments against the mean of the (up to) 3 before
  them; with nothing to compare, ``flat``. A difference above +5 points is ``up``, below -5 ``down``,
  anything else ``flat``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from chalkboard.progress.models import Level, Trend

HUNDREDTH = Decimal("0.01")
HUNDRED = Decimal(100)

EVIDENCE_LIMIT = 20
RECENCY_DECAY = Decimal("0.8")

ATTEMPTED_BELOW = Decimal(40)
FIRST_ATTEMPT_BELOW = Decimal(60)
FIRST_ATTEMPT_COUNT = 2
FAMILIAR_BELOW = Decimal(60)
PROFICIENT_BELOW = Decimal(85)
MASTERY_MIN_COUNT = 3

TREND_WINDOW = timedelta(days=28)
TREND_FALLBACK_COUNT = 3
TREND_THRESHOLD = Decimal(5)


@dataclass(frozen=True)
class Evidence:
    """One assessment as scoring sees it."""

    percentage: Decimal
    assessed_at: datetime


@dataclass(frozen=True)
class Standing:
    """Where a scope stands, given its evidence."""

    level: Level
    percentage: Decimal | None
    trend: Trend
    last_assessed_at: datetime | None


def to_hundredths(value: Decimal) -> Decimal:
    return value.quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def assessment_percentage(*, score: Decimal, max_score: Decimal) -> Decimal:
    """``score / max_score x 100`` to 0.01, halves rounded up. ``max_score`` must be positive."""
    return to_hundredths(score * HUNDRED / max_score)


def newest_first(evidence: Sequence[Evidence]) -> list[Evidence]:
    """The most recent ``EVIDENCE_LIMIT`` items, newest first (the order is stable for equal times)."""
    return sorted(evidence, key=lambda item: item.assessed_at, reverse=True)[:EVIDENCE_LIMIT]


def weighted_percentage(evidence: Sequence[Evidence]) -> Decimal | None:
    """The recency-weighted mean (weights 0.8^k, newest first) of the evidence; ``None`` without any."""
    recent = newest_first(evidence)
    if not recent:
        return None
    weights = [RECENCY_DECAY**rank for rank in range(len(recent))]
    total = sum((weight * item.percentage for weight, item in zip(weights, recent, strict=True)), Decimal(0))
    return to_hundredths(total / sum(weights, Decimal(0)))


def level_for(*, percentage: Decimal | None, count: int) -> Level:
    """The mastery level for a weighted percentage backed by ``count`` assessments (see the module rules)."""
    if percentage is None or count == 0:
        return Level.NOT_STARTED
    if percentage < ATTEMPTED_BELOW or (count < FIRST_ATTEMPT_COUNT and percentage < FIRST_ATTEMPT_BELOW):
        return Level.ATTEMPTED
    if percentage < FAMILIAR_BELOW:
        return Level.FAMILIAR
    if percentage < PROFICIENT_BELOW or count < MASTERY_MIN_COUNT:
        return Level.PROFICIENT
    return Level.MASTERED


def _mean(items: Sequence[Evidence]) -> Decimal:
    return sum((item.percentage for item in items), Decimal(0)) / len(items)


def _trend_of(difference: Decimal) -> Trend:
    if difference > TREND_THRESHOLD:
        return Trend.UP
    if difference < -TREND_THRESHOLD:
        return Trend.DOWN
    return Trend.FLAT


def trend_for(evidence: Sequence[Evidence], *, now: datetime) -> Trend:
    """The last 28 days against the 28 before; else the last 3 assessments against the 3 before them."""
    recent = newest_first(evidence)
    last_window = [item for item in recent if now - TREND_WINDOW < item.assessed_at <= now]
    previous_window = [item for item in recent if now - 2 * TREND_WINDOW < item.assessed_at <= now - TREND_WINDOW]
    if last_window and previous_window:
        return _trend_of(_mean(last_window) - _mean(previous_window))
    latest = recent[:TREND_FALLBACK_COUNT]
    before = recent[TREND_FALLBACK_COUNT : 2 * TREND_FALLBACK_COUNT]
    if not before:
        return Trend.FLAT
    return _trend_of(_mean(latest) - _mean(before))


def standing_for(evidence: Sequence[Evidence], *, now: datetime) -> Standing:
    """Level, percentage, trend and last assessment time of a scope, from its evidence."""
    recent = newest_first(evidence)
    percentage = weighted_percentage(recent)
    return Standing(
        level=level_for(percentage=percentage, count=len(recent)),
        percentage=percentage,
        trend=trend_for(recent, now=now),
        last_assessed_at=recent[0].assessed_at if recent else None,
    )
