"""The ledger as CSV: one line per entry, times in the school's time zone."""

from __future__ import annotations

import csv
import io
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer

from chalkboard.earnings.models import EarningEntry

CSV_HEADER = [
    "id",
    "earned_at",
    "session_id",
    "kind",
    "status",
    "minutes",
    "hourly_rate",
    "amount",
    "currency",
    "description",
]
# A cell starting with one of these is a formula to a spreadsheet: text cells are quoted with a leading '.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def earnings_csv_rows(entries: Iterable[EarningEntry], *, zone: zoneinfo.ZoneInfo) -> list[list[Any]]:
    """The header and one row per entry."""
    rows: list[list[Any]] = [CSV_HEADER]
    rows.extend(
        [
            entry.pk,
            entry.earned_at.astimezone(zone).isoformat(),
            entry.session_id if entry.session_id is not None else "",
            entry.kind,
            entry.status,
            entry.minutes,
            f"{entry.hourly_rate:.2f}",
            f"{entry.amount:.2f}",
            entry.currency,
            _text_cell(entry.description),
        ]
        for entry in entries
    )
    return rows


class CSVRenderer(BaseRenderer):
    """Renders a list of rows (the first one the header). Selected by ``Accept: text/csv`` or ``?format=csv``."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(data)
        return buffer.getvalue().encode(self.charset)
