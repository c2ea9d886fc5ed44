"""The list's query parameters outside of a query string (a plain dict, other types)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from chalkboard.scheduling.filters import SessionListFilters


def test_non_string_values_are_refused():
    filters = SessionListFilters(data={"from": 20250101, "to": ["2025-01-02"], "status": 3})

    assert not filters.is_valid()
    assert set(filters.errors) == {"from", "to", "status"}


def test_validated_values_come_out_typed():
    filters = SessionListFilters(
        data={"school": "4", "status": "completed,scheduled,completed", "from": "2025-01-01", "to": "2025-01-02T00:00Z"}
    )

    assert filters.is_valid(), filters.errors
    assert filters.validated_data == {
        "school_id": 4,
        "statuses": ["completed", "scheduled"],
        "starts_from": date(2025, 1, 1),
        "starts_before": datetime(2025, 1, 2, tzinfo=UTC),
        "ordering": "starts_at",
    }


def test_nothing_given_means_no_filter():
    filters = SessionListFilters(data={})

    assert filters.is_valid()
    assert filters.validated_data == {"ordering": "starts_at"}
