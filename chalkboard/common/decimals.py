"""Decimal amounts against the columns that hold them: one rule, read from the model field.

A ``DecimalField(max_digits=12, decimal_places=2)`` holds less than 10,000,000,000 with cents at most.
PostgreSQL refuses a larger value (``numeric field overflow``, which would be a 500 halfway through a
write); SQLite stores anything, so the two would disagree. Amounts that come from input are checked by
their serializer field, built here from the model field (``decimal_input``); amounts a service computes (a
payout's sum, an earning, an adjustment) are checked by ``decimal_for_column`` before they are written.
Both read ``max_digits`` and ``decimal_places`` from the model, so a migration that widens a column widens
its checks with it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from rest_framework import serializers

from chalkboard.common.errors import ValidationFailed

AMOUNT_TOO_LARGE = "{what} must have at most {whole} digits before the decimal point and {places} after."


def decimal_column(model: type[models.Model], name: str) -> models.DecimalField[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.DecimalField):
        raise TypeError(f"{model.__name__}.{name} is not a DecimalField")
    return field


def decimal_fits(field: models.DecimalField[Any, Any], value: Decimal) -> bool:
    """Whether the column stores ``value`` exactly: finite, no more decimal places than it keeps, and
    fewer digits before the point than it has room for."""
    places = field.decimal_places or 0
    whole = (field.max_digits or 0) - places
    if not value.is_finite() or abs(value) >= Decimal(10) ** whole:
        return False
    return value == value.quantize(Decimal(1).scaleb(-places))


def decimal_too_large_message(*, model: type[models.Model], name: str, what: str) -> str:
    field = decimal_column(model, name)
    places = field.decimal_places or 0
    return AMOUNT_TOO_LARGE.format(what=what, whole=(field.max_digits or 0) - places, places=places)


def decimal_for_column(
    *, model: type[models.Model], name: str, value: Decimal, what: str, input_field: str | None = None
) -> Decimal:
    """``value``, if ``model.name`` can hold it; else a ``400 amount_too_large`` (naming ``input_field``,
    the input that led to it, when there is one)."""
    if decimal_fits(decimal_column(model, name), value):
        return value
    message = decimal_too_large_message(model=model, name=name, what=what)
    raise ValidationFailed(message, fields={input_field: [message]} if input_field else None, code="amount_too_large")


def decimal_input(model: type[models.Model], name: str, **kwargs: Any) -> serializers.DecimalField:
    """A serializer field for an amount that will be stored in ``model.name``: its digits and places."""
    field = decimal_column(model, name)
    return serializers.DecimalField(max_digits=field.max_digits, decimal_places=field.decimal_places, **kwargs)


# SQLite keeps a decimal column as a binary float (its NUMERIC affinity) and its SUM adds floats: a total of
# a few trillion comes back cents off (a thousand amounts of 9,999,999,999.99 sum to ...990.18, not ...990.00).
# There, each amount is added as a whole number of its smallest unit instead. That is exact: the float read
# back for an amount of at most 12 digits is within 1e-4 of a whole number of cents, so ROUND finds it, and
# SQLite adds integers exactly (up to 2**63, or it raises). PostgreSQL adds ``numeric`` exactly as it is.
SQLITE_UNITS_SUM = "SUM(CAST(ROUND({column} * {units}) AS INTEGER))"


def units_per_whole(field: models.DecimalField[Any, Any]) -> int:
    """How many of the column's smallest unit make one: 100 for cents."""
    return 10 ** (field.decimal_places or 0)


def decimal_from_units(value: int | Decimal | None, *, places: int) -> Decimal | None:
    """A sum as ``ExactSum`` (or a statement using ``SQLITE_UNITS_SUM``) reads it: SQLite gives whole units
    (an ``int``), PostgreSQL the amount itself (a ``Decimal``); ``None`` over no rows."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(value).scaleb(-places)


class _ExactTotalField(models.DecimalField):
    """The output of ``ExactSum``. Its own internal type keeps Django's SQLite converter away: that one
    rounds every decimal aggregate to 15 significant digits, a float's, which an exact total does not need."""

    def get_internal_type(self) -> str:
        return "ExactTotal"


class ExactSum(models.Sum):
    """``Sum`` of a ``DecimalField`` column, exact on every database, read as a ``Decimal`` with the column's
    places (``None`` over no rows). On SQLite it adds whole units (``SQLITE_UNITS_SUM``)."""

    def _resolve_output_field(self) -> models.Field[Any, Any]:
        field = self._column_field()
        return _ExactTotalField(max_digits=None, decimal_places=field.decimal_places)

    def _column_field(self) -> models.DecimalField[Any, Any]:
        field = self.get_source_expressions()[0].output_field
        if not isinstance(field, models.DecimalField):
            raise TypeError(f"ExactSum needs a DecimalField, not {type(field).__name__}")
        return field

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, Any]:
        clone = self.copy()
        units = units_per_whole(self._column_field())
        clone.template = f"%(function)s(%(distinct)sCAST(ROUND(%(expressions)s * {units}) AS INTEGER))"
        return clone.as_sql(compiler, connection, **extra_context)

    def convert_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        return decimal_from_units(value, places=self._column_field().decimal_places or 0)
