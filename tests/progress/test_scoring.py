from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chalkboard.progress.models import Level, Trend
from chalkboard.progress.scoring import (
    EVIDENCE_LIMIT,
    Evidence,
    assessment_percentage,
    level_for,
    newest_first,
    standing_for,
    trend_for,
    weighted_percentage,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ev(percentage: str | int, days_ago: float) -> Evidence:
    return Evidence(percentage=Decimal(str(percentage)), assessed_at=NOW - timedelta(days=days_ago))


@pytest.mark.parametrize(
    ("score", "max_score", "expected"),
    [
        ("17.5", "20", "87.50"),
        ("1", "3", "33.33"),
        ("2", "3", "66.67"),
        ("1", "8", "12.50"),
        ("0.01", "0.08", "12.50"),
        ("1", "800", "0.13"),  # 0.125 rounds half up
        ("1", "1600", "0.06"),  # 0.0625 rounds down
        ("0", "5", "0.00"),
        ("999999.99", "999999.99", "100.00"),
        ("0.01", "999999.99", "0.00"),
    ],
)
def test_assessment_percentage_rounds_half_up_to_hundredths(score, max_score, expected):
    result = assessment_percentage(score=Decimal(score), max_score=Decimal(max_score))

    assert str(result) == expected


def test_weighted_percentage_is_none_without_evidence():
    assert weighted_percentage([]) is None


def test_weighted_percentage_of_one_assessment_is_its_percentage():
    assert weighted_percentage([ev("73.25", 1)]) == Decimal("73.25")


def test_weighted_percentage_weighs_recent_assessments_more():
    # newest 100 (weight 1), then 50 (0.8): (100 + 40) / 1.8 = 77.777...
    assert weighted_percentage([ev(50, 2), ev(100, 1)]) == Decimal("77.78")
    # the same marks the other way round pull toward 50: (50 + 80) / 1.8 = 72.22...
    assert weighted_percentage([ev(100, 2), ev(50, 1)]) == Decimal("72.22")


def test_weighted_percentage_uses_decaying_weights():
    evidence = [ev(90, 1), ev(60, 2), ev(30, 3)]
    expected = (Decimal(90) + Decimal("0.8") * 60 + Decimal("0.64") * 30) / Decimal("2.44")

    assert weighted_percentage(evidence) == expected.quantize(Decimal("0.01"))


def test_only_the_latest_twenty_assessments_count():
    old_failures = [ev(0, 100 + n) for n in range(30)]
    recent_perfect = [ev(100, n) for n in range(EVIDENCE_LIMIT)]

    assert len(newest_first(old_failures + recent_perfect)) == EVIDENCE_LIMIT
    assert weighted_percentage(old_failures + recent_perfect) == Decimal("100.00")


@pytest.mark.parametrize(
    ("percentage", "count", "level"),
    [
        (None, 0, Level.NOT_STARTED),
        (Decimal(90), 0, Level.NOT_STARTED),
        (Decimal("39.99"), 5, Level.ATTEMPTED),
        (Decimal(0), 1, Level.ATTEMPTED),
        (Decimal("59.99"), 1, Level.ATTEMPTED),  # a single attempt below 60
        (Decimal(40), 2, Level.FAMILIAR),
        (Decimal("59.99"), 2, Level.FAMILIAR),
        (Decimal(60), 1, Level.PROFICIENT),
        (Decimal("84.99"), 10, Level.PROFICIENT),
        (Decimal(85), 1, Level.PROFICIENT),  # mastery needs 3 assessments
        (Decimal(100), 2, Level.PROFICIENT),
        (Decimal(85), 3, Level.MASTERED),
        (Decimal(100), 20, Level.MASTERED),
    ],
)
def test_level_rules(percentage, count, level):
    assert level_for(percentage=percentage, count=count) == level


def test_trend_compares_the_last_28_days_with_the_28_before():
    rising = [ev(50, 40), ev(60, 35), ev(70, 10), ev(66, 3)]  # 55 -> 68
    falling = [ev(80, 50), ev(70, 10)]  # 80 -> 70
    steady = [ev(70, 30), ev(74, 5)]  # +4 is within the band

    assert trend_for(rising, now=NOW) == Trend.UP
    assert trend_for(falling, now=NOW) == Trend.DOWN
    assert trend_for(steady, now=NOW) == Trend.FLAT


def test_trend_threshold_is_strictly_more_than_five_points():
    assert trend_for([ev(60, 40), ev(65, 1)], now=NOW) == Trend.FLAT
    assert trend_for([ev(60, 40), ev("65.01", 1)], now=NOW) == Trend.UP
    assert trend_for([ev(60, 40), ev(55, 1)], now=NOW) == Trend.FLAT
    assert trend_for([ev(60, 40), ev("54.99", 1)], now=NOW) == Trend.DOWN


def test_trend_window_edges():
    # exactly 28 days ago belongs to the previous window; exactly 56 days ago to neither: 80 against 80
    assert trend_for([ev(20, 56), ev(80, 28), ev(80, 1)], now=NOW) == Trend.FLAT


def test_trend_ignores_assessments_older_than_the_two_windows_when_both_have_some():
    evidence = [ev(0, 90), ev(60, 40), ev(61, 2)]

    assert trend_for(evidence, now=NOW) == Trend.FLAT


def test_trend_falls_back_to_the_last_three_against_the_three_before_when_a_window_is_empty():
    # everything within the last 28 days: previous window empty
    improving = [ev(40, 20), ev(45, 18), ev(50, 16), ev(70, 10), ev(75, 8), ev(80, 6)]
    # everything long ago: last window empty
    declining = [ev(90, 200), ev(90, 190), ev(90, 180), ev(60, 170), ev(60, 160), ev(60, 150)]

    assert trend_for(improving, now=NOW) == Trend.UP
    assert trend_for(declining, now=NOW) == Trend.DOWN


def test_fallback_compares_with_fewer_than_three_earlier_assessments():
    assert trend_for([ev(40, 9), ev(70, 3), ev(70, 2), ev(70, 1)], now=NOW) == Trend.UP


def test_trend_is_flat_with_nothing_to_compare():
    assert trend_for([], now=NOW) == Trend.FLAT
    assert trend_for([ev(10, 3)], now=NOW) == Trend.FLAT
    assert trend_for([ev(10, 3), ev(90, 2), ev(95, 1)], now=NOW) == Trend.FLAT


def test_standing_without_evidence():
    standing = standing_for([], now=NOW)

    assert standing.level == Level.NOT_STARTED
    assert standing.percentage is None
    assert standing.trend == Trend.FLAT
    assert standing.last_assessed_at is None


def test_standing_combines_the_rules():
    evidence = [ev(70, 40), ev(90, 3), ev(95, 2), ev(88, 1)]

    standing = standing_for(evidence, now=NOW)

    assert standing.percentage == weighted_percentage(evidence)
    assert standing.level == Level.MASTERED
    assert standing.trend == Trend.UP
    assert standing.last_assessed_at == NOW - timedelta(days=1)
