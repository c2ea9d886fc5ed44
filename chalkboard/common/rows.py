"""Model instances from the rows of a statement written in SQL, converted exactly as the ORM converts its
own (SQLite's timestamps made aware, its decimals made ``Decimal``), for the few hot paths whose statements
cost more to build with the ORM than to run (each says so where it is written)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Generic, TypeVar, cast

from django.db import connections
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]


class Columns(Generic[M]):
    """Some columns of a model's table under an alias: their SQL, and the instance a row of them makes
    (the other fields deferred, read on first use like any deferred field)."""

    def __init__(self, model: type[M], alias: str, names: Sequence[str] | None = None, *, using: str = "default"):
        self.model, self.alias, self.using = model, alias, using
        # In the model's order, as ``Model.from_db`` expects them.
        wanted = (
            None if names is None else {cast("Field[Any, Any]", model._meta.get_field(name)).attname for name in names}
        )
        self.fields: tuple[Field[Any, Any], ...] = tuple(
            field for field in model._meta.concrete_fields if wanted is None or field.attname in wanted
        )
        self.attnames = [field.attname for field in self.fields]

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def quoted(self) -> list[str]:
        """The columns' names, quoted."""
        quote = connections[self.using].ops.quote_name
        return [quote(cast(str, field.column)) for field in self.fields]

    @property
    def sql(self) -> str:
        """The columns, under the alias: for a SELECT."""
        return ", ".join(f"{self.alias}.{column}" for column in self.quoted)

    @cached_property
    def _converters(self) -> list[tuple[Any, list[Converter]]]:
        connection = connections[self.using]
        converters = []
        for field in self.fields:
            column = field.get_col(self.model._meta.db_table)
            converters.append((column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)))
        return converters

    def value(self, index: int, raw: Any) -> Any:
        """The ``index``-th column's value as the ORM reads it."""
        column, converters = self._converters[index]
        connection = connections[self.using]
        for convert in converters:
            raw = convert(raw, column, connection)
        return raw

    def build(self, row: Sequence[Any]) -> M:
        """The instance of these columns' values (``row``: exactly them, in order)."""
        values = [self.value(index, raw) for index, raw in enumerate(row)]
        return self.model.from_db(self.using, self.attnames, values)


def rows_insert(objs: Sequence[M], *, using: str = "default", keys: bool = True) -> None:
    """Insert new instances of one model with one plain ``INSERT … RETURNING``, and set their keys: what
    ``bulk_create`` does, for a hot path where building the ORM's statement costs more than running it
    (three times as much for a row of the audit trail, measured). Each field's value is what the ORM would
    write (``pre_save``: ``auto_now_add`` stamps the instance too; ``get_db_prep_save``). No signals are
    sent, as ``bulk_create`` sends none.

    ``keys=False``: for rows nobody reads back, a plain ``INSERT`` that leaves the instances without keys,
    and whose answer nobody waits for in a pipeline (``rows_pipeline``)."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    connection = connections[using]
    fields = [field for field in meta.concrete_fields if field is not meta.auto_field]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(cast(str, field.column)) for field in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {', '.join([row] * len(objs))}"  # noqa: S608 (quoted model metadata)  # nosec B608
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in objs for field in fields]
    if not keys:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {quote(cast(str, meta.pk.column))}", params)
        returned = cursor.fetchall()
    for obj, (value,) in zip(objs, returned, strict=True):
        obj.pk = value
        obj._state.adding, obj._state.db = False, using


Statement = tuple[str, "Sequence[Any] | Mapping[str, Any]"]
Rows = list[tuple[Any, ...]]


def rows_read(statements: Sequence[Statement], *, using: str = "default") -> list[Rows]:
    """The rows of each statement, in order. On PostgreSQL the statements go out in one pipeline: sent
    together and answered together, one round trip for all of them instead of one each, which also spares
    the server and the client a wake-up per statement. Elsewhere they run one after the other. Each runs as
    ``cursor.execute`` runs it alone; in a transaction, a failure aborts the transaction either way."""
    connection = connections[using]
    if connection.vendor == "postgresql" and len(statements) > 1:
        return _rows_pipelined(connection, statements)  # only on PostgreSQL
    results = []
    for sql, params in statements:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            results.append(cursor.fetchall())
    return results


@contextmanager
def rows_pipeline(*, using: str = "default") -> Iterator[None]:
    """On PostgreSQL, the statements run in the block go out in pipeline mode: a statement whose result is
    not read is sent without waiting for its answer, and the first read waits for every statement before it
    at once; the block's end waits for the rest. Statements whose results are read after the block, or not at
    all, cost one round trip together. (psycopg still sends a transaction's ``BEGIN`` alone.) Elsewhere,
    nothing changes.

    For plain statements only (``cursor.execute``, ``rows_insert``, reads): a statement's row count is not
    known before its answer is read, so an ORM ``save``, ``update`` or ``delete``, which check theirs at once,
    must not run in the block. An error surfaces at the next read or at the block's end, not at its own
    statement; either way it aborts the transaction."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield  # only on SQLite
        return  # only on SQLite
    connection.ensure_connection()  # only on PostgreSQL
    with connection.wrap_database_errors, connection.connection.pipeline():  # only on PostgreSQL
        yield  # only on PostgreSQL


def _rows_pipelined(connection: Any, statements: Sequence[Statement]) -> list[Rows]:  # only on PostgreSQL
    connection.ensure_connection()
    cursors = [connection.cursor() for _ in statements]
    try:
        # Django's errors for what the pipeline itself raises (its last sync, when the connection breaks), as
        # for what its cursors raise: a broken connection is then known as one, and not used again.
        with connection.wrap_database_errors, connection.connection.pipeline():
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params)
        # Read once the pipeline has ended: its last sync brought every answer back. (A read inside it would ask
        # the server for the answers first, and its end would wait for the server once more.)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()
