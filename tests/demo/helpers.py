"""Reading generated rows back as dicts, for assertions."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from chalkboard.demo.cast import Cast
from chalkboard.demo.generator import DemoGenerator
from chalkboard.demo.specs import Spec
from chalkboard.demo.tables import Table

ANCHOR = datetime(2026, 3, 10, tzinfo=UTC)
Rows = dict[Table, list[dict[str, Any]]]


def generate(spec: Spec, *, seed: int = 1, anchor: datetime = ANCHOR) -> tuple[Cast, Rows]:
    generator = DemoGenerator(spec=spec, seed=seed, anchor=anchor, password_hash="hash")
    rows: Rows = defaultdict(list)
    for batch in generator.batches():
        for table, table_rows in batch.tables():
            rows[table].extend(dict(zip(table.columns, row, strict=True)) for row in table_rows)
    return generator.cast, rows
