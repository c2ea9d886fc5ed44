"""Amounts against their columns: one rule, read from the model field, for input and for computed amounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connections

from chalkboard.common.decimals import ExactSum, decimal_column, decimal_fits, decimal_for_column, decimal_input
from chalkboard.common.errors import ValidationFailed
from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.people.models import TeacherRate
from tests.conftest import client_for


@pytest.mark.parametrize(
    ("value", "fits"),
    [
        ("0", True),
        ("0.01", True),
        ("9999999999.99", True),
        ("-9999999999.99", True),
        ("10000000000", False),
        ("-10000000000.00", False),
        ("1.005", False),  # the column would round it: not stored exactly
        ("1.000", True),
        ("NaN", False),
        ("Infinity", False),
        ("1e40", False),
    ],
)
def test_decimal_fits_a_numeric_12_2_column(value, fits):
    assert decimal_fits(decimal_column(Payout, "amount"), Decimal(value)) is fits


def test_decimal_for_column_returns_what_fits_and_refuses_the_rest():
    assert decimal_for_column(model=EarningEntry, name="amount", value=Decimal("12.50"), what="It") == Decimal("12.50")
    with pytest.raises(ValidationFailed) as refused:
        decimal_for_column(model=Payout, name="amount", value=Decimal("1e10"), what="A payout", input_field="ids")
    assert refused.value.code == "amount_too_large"
    assert refused.value.message == "A payout must have at most 10 digits before the decimal point and 2 after."
    assert refused.value.fields == {"ids": [refused.value.message]}
    with pytest.raises(ValidationFailed) as unnamed:
        decimal_for_column(model=TeacherRate, name="hourly_rate", value=Decimal("1e8"), what="A rate")
    assert unnamed.value.fields is None
    assert "at most 8 digits" in unnamed.value.message


def test_decimal_input_reads_the_column():
    field = decimal_input(TeacherRate, "hourly_rate", min_value=Decimal(0))
    assert (field.max_digits, field.decimal_places, field.min_value) == (10, 2, Decimal(0))
    with pytest.raises(TypeError):
        decimal_column(TeacherRate, "is_group")


@pytest.mark.django_db
@pytest.mark.parametrize("rate", ["100000000.00", "99999999.999", "1e9", "12345678901234567890"])
def test_a_rate_that_does_not_fit_its_column_is_a_400(world, rate):
    teacher = world.teacher
    response = client_for(world.owner).patch(
        f"/api/teachers/{teacher.user_id}/",
        {"school_id": world.school.pk, "default_hourly_rate": rate},
        format="json",
    )
    assert response.status_code == 400
    assert "default_hourly_rate" in response.json()["fields"]
    assert teacher.rates.get(subject=None, is_group=False).hourly_rate == Decimal("30.00")


def sqlite_connection() -> Any:
    """A SQLite connection of Django's own, beside whatever database the suite runs on: ``ExactSum`` compiles
    differently there, and both forms are checked in every run."""
    from django.db.backends.sqlite3.base import DatabaseWrapper

    settings_dict = {**connections["default"].settings_dict, "ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    return DatabaseWrapper(settings_dict, alias="sqlite-probe")


def totals_query() -> Any:
    return EarningEntry.objects.values("teacher_id").annotate(total=ExactSum("amount")).query


def test_exact_sum_adds_whole_cents_on_sqlite_and_the_amounts_themselves_elsewhere():
    on_sqlite, _ = totals_query().get_compiler(connection=sqlite_connection()).as_sql()
    on_default, _ = totals_query().get_compiler(using="default").as_sql()

    assert 'SUM(CAST(ROUND("earnings_earningentry"."amount" * 100) AS INTEGER))' in on_sqlite
    if connections["default"].vendor != "sqlite":
        assert 'SUM("earnings_earningentry"."amount")' in on_default
    else:
        assert on_default == on_sqlite


def test_exact_sum_reads_whole_units_and_decimals_alike():
    total = totals_query().annotations["total"]

    assert total.convert_value(123456, None, None) == Decimal("1234.56")
    assert total.convert_value(Decimal("1234.56"), None, None) == Decimal("1234.56")
    assert total.convert_value(None, None, None) is None
    assert total.output_field.get_internal_type() == "ExactTotal"


@pytest.mark.django_db
def test_exact_sum_refuses_a_column_that_is_not_decimal():
    with pytest.raises(TypeError, match="ExactSum needs a DecimalField"):
        EarningEntry.objects.aggregate(total=ExactSum("minutes"))
