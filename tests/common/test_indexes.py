"""Every foreign key without an index of its own is the first column of another index of its table, so that
looking rows up by it (a join, a cascade, a protected delete) never scans the table."""

from __future__ import annotations

from django.apps import apps
from django.db import models

from chalkboard.activity.models import ActivityLog
from chalkboard.earnings.models import EarningEntry
from chalkboard.realtime.models import Event
from chalkboard.scheduling.models import Session, SessionNote, SessionStudent


def leading_columns(model: type[models.Model]) -> set[str]:
    """The first field of each index, unique constraint and ``unique_together`` of the model that covers
    every row (a partial one, with a condition, finds only some)."""
    meta = model._meta
    firsts = [index.fields[0] for index in meta.indexes if index.fields and index.condition is None]
    firsts += [
        constraint.fields[0]
        for constraint in meta.constraints
        if getattr(constraint, "fields", None) and getattr(constraint, "condition", None) is None
    ]
    firsts += [fields[0] for fields in meta.unique_together]
    return {meta.get_field(name.lstrip("-")).name for name in firsts}


def unindexed_foreign_keys() -> list[tuple[type[models.Model], models.ForeignKey]]:
    return [
        (model, field)
        for model in apps.get_models()
        if model.__module__.startswith("chalkboard.")
        for field in model._meta.concrete_fields
        if isinstance(field, models.ForeignKey) and not field.db_index
    ]


def test_a_foreign_key_without_its_own_index_leads_another_index():
    uncovered = [
        f"{model.__name__}.{field.name}"
        for model, field in unindexed_foreign_keys()
        if field.name not in leading_columns(model)
    ]

    assert uncovered == []


def test_the_hot_tables_keep_no_index_that_another_index_covers():
    """The foreign keys every completion writes, and the bookings, carry no index of their own."""
    expected = {
        (Session, "school"),
        (Session, "teacher"),
        (SessionStudent, "session"),
        (SessionStudent, "student"),
        (SessionNote, "session"),
        (ActivityLog, "school"),
        (ActivityLog, "teacher"),
        (Event, "school"),
        (EarningEntry, "teacher"),
    }

    assert expected <= {(model, field.name) for model, field in unindexed_foreign_keys()}
