from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone
from knox.models import AuthToken

from chalkboard.common.errors import ValidationFailed
from chalkboard.realtime import services
from chalkboard.realtime.models import Event, EventType, WebSocketTicket
from chalkboard.realtime.services import events_prune, ticket_issue

pytestmark = pytest.mark.django_db


def event_at(when, school_id: int) -> Event:
    with time_machine.travel(when, tick=False):
        return Event.objects.create(type=EventType.SESSION_UPDATED, school_id=school_id, teacher_id=None)


def test_events_older_than_the_retention_are_deleted_oldest_first_in_batches(world, monkeypatch):
    monkeypatch.setattr(services, "PRUNE_BATCH", 2)
    now = timezone.now()
    old = [event_at(now - timedelta(days=9, minutes=m), world.school.pk) for m in range(5)]
    recent = [event_at(now - timedelta(days=6), world.school.pk), event_at(now, world.school.pk)]

    assert events_prune(older_than=timedelta(days=7)) == len(old)
    assert list(Event.objects.order_by("id")) == recent


def test_pruning_deletes_a_prefix_of_the_log(world):
    """An event that looks old but comes after a recent one (a clock step back between servers) goes with
    everything before the last old one, so the oldest id kept tells whether anything after an id is gone."""
    now = timezone.now()
    first = event_at(now - timedelta(days=8), world.school.pk)
    between = event_at(now - timedelta(days=1), world.school.pk)
    last_old = event_at(now - timedelta(days=8), world.school.pk)
    kept = event_at(now, world.school.pk)

    assert events_prune(older_than=timedelta(days=7)) == 3
    assert not Event.objects.filter(pk__in=[first.pk, between.pk, last_old.pk]).exists()
    assert list(Event.objects.all()) == [kept]


def test_nothing_old_deletes_nothing(world):
    event_at(timezone.now(), world.school.pk)
    assert events_prune(older_than=timedelta(days=7)) == 0
    assert Event.objects.count() == 1


def test_the_log_is_never_pruned_under_a_day(world):
    with pytest.raises(ValidationFailed):
        events_prune(older_than=timedelta(hours=23))


def test_the_command_prunes_by_the_setting_and_purges_expired_tickets(world, as_user):
    now = timezone.now()
    event_at(now - timedelta(days=4), world.school.pk)
    event_at(now - timedelta(days=2), world.school.pk)
    as_user(world.teacher.user).post("/api/auth/ws-ticket/")
    with time_machine.travel(now + timedelta(minutes=1)):
        out = StringIO()
        with override_settings(EVENT_RETENTION_DAYS=3):
            call_command("prune_events", stdout=out)

    assert out.getvalue().strip() == "Deleted 1 events and 1 expired tickets."
    assert Event.objects.count() == 1
    assert not WebSocketTicket.objects.exists()


def test_the_default_retention_is_a_week(world, settings):
    assert settings.EVENT_RETENTION_DAYS == 7
    now = timezone.now()
    event_at(now - timedelta(days=8), world.school.pk)
    event_at(now - timedelta(days=6), world.school.pk)
    call_command("prune_events", stdout=StringIO())
    assert Event.objects.count() == 1


def test_the_command_refuses_a_retention_under_a_day(world):
    with override_settings(EVENT_RETENTION_DAYS=0), pytest.raises(CommandError, match="at least 24 hours"):
        call_command("prune_events", stdout=StringIO())


def test_a_ticket_still_valid_is_not_purged(world):
    token, _ = AuthToken.objects.create(user=world.admin)
    ticket_issue(token=token)
    assert services.tickets_purge_expired() == 0
    assert WebSocketTicket.objects.count() == 1
