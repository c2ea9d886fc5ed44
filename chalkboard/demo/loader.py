"""Writes batches of plain rows to the database, fast, with every constraint checked by the database.

On PostgreSQL rows stream in through ``COPY`` (psycopg 3), with foreign keys checked at the end of each
statement rather than all at commit; elsewhere they go in as batched ``INSERT``s, each value prepared by
its model field. Not ``bulk_create``: it would overwrite the generated ``auto_now`` timestamps with the
time of loading. Ids come with the rows, so the sequences are moved past them afterwards.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Max

from chalkboard.demo.tables import LOAD_ORDER, Batch, Row, Table

INSERT_CHUNK = 2_000
Convert = Callable[[Any], Any]


class Loader:
    def __init__(self, connection: BaseDatabaseWrapper):
        self.connection = connection
        self.counts: Counter[str] = Counter()
        self.is_postgresql = connection.vendor == "postgresql"

    def last_ids(self) -> dict[Table, int]:
        """The highest id each table holds: new rows are numbered after it."""
        return {
            table: table.model._default_manager.aggregate(last=Max("id"))["last"] or 0
            for table in LOAD_ORDER
            if table.has_id
        }

    def begin(self) -> None:
        """Inside the loading transaction: check foreign keys per statement, not all at once at commit."""
        if self.is_postgresql:
            with self.connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def write(self, batch: Batch) -> None:
        for table, rows in batch.tables():
            if self.is_postgresql:
                self._copy(table, rows)
            else:
                self._insert(table, rows)
            self.counts[table.name] += len(rows)

    def finish(self) -> None:
        """Move every id sequence past the ids the rows brought."""
        statements = self.connection.ops.sequence_reset_sql(no_style(), [table.model for table in LOAD_ORDER])
        with self.connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def analyze(self) -> None:
        """Fresh planner statistics for the tables just filled (PostgreSQL)."""
        if not self.is_postgresql:
            return
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            for table in LOAD_ORDER:
                cursor.execute(f"ANALYZE {quote(table.name)}")

    # --- writing ------------------------------------------------------------------------------------
    def _columns_sql(self, table: Table) -> str:
        quote = self.connection.ops.quote_name
        return f"{quote(table.name)} ({', '.join(quote(column) for column in table.columns)})"

    def _copy(self, table: Table, rows: Sequence[Row]) -> None:
        converters = json_converters(table)
        with self.connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {self._columns_sql(table)} FROM STDIN") as copy:
                if converters:
                    rows = [convert_row(row, converters) for row in rows]
                for row in rows:
                    copy.write_row(row)

    def _insert(self, table: Table, rows: Sequence[Row]) -> None:
        converters = field_converters(table, self.connection)
        marks = ", ".join(["%s"] * len(table.columns))
        sql = f"INSERT INTO {self._columns_sql(table)} VALUES ({marks})"  # noqa: S608 (quoted model metadata)  # nosec B608
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[start : start + INSERT_CHUNK]
                cursor.executemany(sql, [convert_row(row, converters) for row in chunk])


def convert_row(row: Row, converters: Sequence[Convert | None]) -> Row:
    return tuple(value if convert is None else convert(value) for value, convert in zip(row, converters, strict=True))


def _field(table: Table, column: str) -> models.Field[Any, Any]:
    return next(field for field in table.model._meta.concrete_fields if field.column == column)


def json_converters(table: Table) -> list[Convert | None]:
    """For COPY: JSON columns as JSON text; psycopg adapts every other value itself."""
    converters: list[Convert | None] = [
        _json_text if isinstance(_field(table, column), models.JSONField) else None for column in table.columns
    ]
    return converters if any(converters) else []


def _json_text(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)


def field_converters(table: Table, connection: BaseDatabaseWrapper) -> list[Convert | None]:
    """For INSERT: each value as its model field prepares it for this database."""
    fields = [_field(table, column) for column in table.columns]
    return [_prepare_with(field, connection) for field in fields]


def _prepare_with(field: models.Field[Any, Any], connection: BaseDatabaseWrapper) -> Convert:
    def prepare(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    return prepare
