"""Writes every app's services share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalkboard.common.models import TimeStampedModel


def model_update(*, instance: TimeStampedModel, data: Mapping[str, Any], save: bool = True) -> dict[str, Any]:
    """Set each field of ``data`` whose value is not ``None`` and differs from the instance's, then save those
    fields alone, with ``updated_at``. ``None`` leaves a field as it is.

    Answers each changed field's previous value: empty when nothing changed, and then nothing is saved.
    ``save=False`` sets the fields but leaves the saving to the caller."""
    previous: dict[str, Any] = {}
    for field, value in data.items():
        if value is not None and getattr(instance, field) != value:
            previous[field] = getattr(instance, field)
            setattr(instance, field, value)
    if previous and save:
        instance.save(update_fields=[*previous, "updated_at"])
    return previous
