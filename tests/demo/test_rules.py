from __future__ import annotations

from decimal import Decimal

import pytest

from chalkboard.demo.rules import (
    assessment_percentage,
    earning_amount,
    level_for,
    progress_percentage,
    rate_for,
    trend_for,
)


def d(*values: str) -> list[Decimal]:
    return [Decimal(value) for value in values]


@pytest.mark.parametrize(
    ("rate", "minutes", "amount"),
    [
        ("30.00", 60, "30.00"),
        ("30.00", 45, "22.50"),
        ("33.33", 50, "27.78"),  # 27.775 rounds half up
        ("25.00", 1, "0.42"),  # 0.41666…
        ("4500.00", 55, "4125.00"),
    ],
)
def test_earning_amount_is_rate_times_duration_rounded_half_up_to_the_cent(rate, minutes, amount):
    assert earning_amount(Decimal(rate), minutes) == Decimal(amount)


def test_assessment_percentage_has_two_places_rounded_half_up():
    assert assessment_percentage(Decimal("7.5"), Decimal("10")) == Decimal("75.00")
    assert assessment_percentage(Decimal("1"), Decimal("3")) == Decimal("33.33")
    assert assessment_percentage(Decimal("2"), Decimal("3")) == Decimal("66.67")
    assert assessment_percentage(Decimal("0.01"), Decimal("8")) == Decimal("0.13")  # 0.125 rounds up


@pytest.mark.parametrize(
    ("percentage", "level"),
    [
        (None, "not_started"),
        ("0", "attempted"),
        ("39.99", "attempted"),
        ("40", "familiar"),
        ("59.99", "familiar"),
        ("60", "proficient"),
        ("84.99", "proficient"),
        ("85", "mastered"),
        ("100", "mastered"),
    ],
)
def test_level_follows_the_percentage_bounds(percentage, level):
    assert level_for(None if percentage is None else Decimal(percentage)) == level


def test_progress_percentage_is_the_mean_of_the_latest_five():
    assert progress_percentage([]) is None
    assert progress_percentage(d("50")) == Decimal("50.00")
    assert progress_percentage(d("0", "0", "10", "20", "30", "40", "50")) == Decimal("30.00")
    assert progress_percentage(d("10", "20", "20")) == Decimal("16.67")


@pytest.mark.parametrize(
    ("percentages", "trend"),
    [
        ((), "flat"),
        (("50",), "flat"),
        (("50", "55"), "up"),
        (("50", "54.99"), "flat"),
        (("60", "55"), "down"),
        (("0", "50", "50", "50", "52", "52", "52"), "flat"),  # the last three against the three before, no more
        (("90", "90", "90", "50", "50", "50", "50", "60", "60"), "up"),
        (("80", "80", "70", "70"), "down"),
    ],
)
def test_trend_compares_the_latest_assessments_with_the_ones_before(percentages, trend):
    assert trend_for(d(*percentages)) == trend


RATES = {
    (None, False): Decimal("30.00"),
    (7, False): Decimal("35.00"),
    (None, True): Decimal("39.00"),
    (8, True): Decimal("50.00"),
}


@pytest.mark.parametrize(
    ("subject_id", "is_group", "rate"),
    [
        (7, False, "35.00"),  # subject
        (9, False, "30.00"),  # default
        (7, True, "35.00"),  # subject beats group
        (9, True, "39.00"),  # group beats default
        (8, True, "50.00"),  # subject and group
        (8, False, "30.00"),  # a group rate never applies to a one-to-one lesson
    ],
)
def test_the_most_specific_rate_applies(subject_id, is_group, rate):
    assert rate_for(RATES, subject_id=subject_id, is_group=is_group) == Decimal(rate)


def test_no_rate_at_all_is_an_error():
    with pytest.raises(LookupError):
        rate_for({}, subject_id=1, is_group=False)
