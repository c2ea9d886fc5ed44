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
