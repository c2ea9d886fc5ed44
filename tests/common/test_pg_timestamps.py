"""Timestamps read by psycopg's compiled loader on PostgreSQL connections in UTC, exactly as Django reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

from chalkboard.common.pg_timestamps import TIMESTAMPTZ, UtcTimestamptzLoader, timestamps_compiled
from tests import factories as f

WRITTEN = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)


def native_in(zone: str) -> SimpleNamespace:
    return SimpleNamespace(info=SimpleNamespace(parameter_status=lambda name: zone), adapters=mock.Mock())


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_connection_reads_timestamps_with_the_compiled_loader_and_django_keeps_it_for_every_cursor():
    from django.db import connection

    from chalkboard.scheduling.models import Session

    school = f.SchoolFactory()
    session = f.session_for(f.teacher_in(school), f.student_in(school), starts_at=WRITTEN)
    read = Session.objects.values_list("starts_at", flat=True).get(pk=session.pk)
    with connection.cursor() as cursor:
        loader = cursor.cursor.adapters.get_loader(TIMESTAMPTZ, 0)
        cursor.execute(
            "SELECT starts_at, starts_at + interval '1 microsecond' FROM scheduling_session WHERE id = %s", [session.pk]
        )
        raw, later = cursor.fetchone()

    assert loader is UtcTimestamptzLoader
    assert read == raw == WRITTEN
    assert read.tzinfo is UTC  # as Django's own loader gives them
    assert raw.tzinfo is UTC
    assert later == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_compiled_loader_reads_what_djangos_loader_reads():
    from django.db import connection

    connection.ensure_connection()
    native = connection.connection
    texts = [b"2026-12-06 08:47:32.311982+00", b"1999-12-31 23:59:59+00", b"2026-03-29 01:00:00+00"]

    class DjangoLoader(BaseTzLoader):
        timezone = UTC

    ours, django = UtcTimestamptzLoader(TIMESTAMPTZ, native), DjangoLoader(TIMESTAMPTZ, native)

    assert [ours.load(text) for text in texts] == [django.load(text) for text in texts]
    assert {ours.load(text).tzinfo for text in texts} == {UTC}


def test_a_connection_in_another_zone_keeps_djangos_loader():
    in_paris = SimpleNamespace(vendor="postgresql", timezone=UTC, connection=native_in("Europe/Paris"))
    paris = ZoneInfo("Europe/Paris")
    django_elsewhere = SimpleNamespace(vendor="postgresql", timezone=paris, connection=native_in("UTC"))
    sqlite = SimpleNamespace(vendor="sqlite", timezone=UTC, connection=native_in("UTC"))

    for connection in (in_paris, django_elsewhere, sqlite):
        timestamps_compiled(sender=None, connection=connection)
        connection.connection.adapters.register_loader.assert_not_called()


def test_a_connection_in_utc_takes_the_compiled_loader():
    in_utc = SimpleNamespace(vendor="postgresql", timezone=UTC, connection=native_in("UTC"))

    timestamps_compiled(sender=None, connection=in_utc)

    in_utc.connection.adapters.register_loader.assert_called_once_with(TIMESTAMPTZ, UtcTimestamptzLoader)
