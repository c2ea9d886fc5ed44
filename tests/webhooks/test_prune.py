"""The delivery log is pruned: deliveries delivered longer ago than the retention go with their attempts;
deliveries still owed, and those sent again by hand lately, stay; no pruned event is planned again."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from chalkboard.common.errors import ValidationFailed
from chalkboard.webhooks import services
from chalkboard.webhooks.models import Attempt, AttemptOutcome, AttemptTrigger, Delivery, DeliveryStatus, Endpoint
from chalkboard.webhooks.services import deliveries_prune
from tests.webhooks.conftest import emit, endpoint_for, run_jobs

pytestmark = pytest.mark.django_db


def delivery(endpoint: Endpoint, event_id: int, *, delivered_at: datetime | None, tried_at: datetime) -> Delivery:
    made = Delivery.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        event_type="session.updated",
        payload="{}",
        status=DeliveryStatus.DELIVERED if delivered_at else DeliveryStatus.PENDING,
        next_attempt_at=tried_at,
        delivered_at=delivered_at,
    )
    Attempt.objects.create(
        delivery=made,
        started_at=tried_at,
        outcome=AttemptOutcome.DELIVERED if delivered_at else AttemptOutcome.TIMEOUT,
    )
    return made


def test_deliveries_delivered_before_the_retention_go_with_their_attempts(world, receiver, monkeypatch):
    monkeypatch.setattr(services, "PRUNE_BATCH", 2)
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    now = timezone.now()
    long_ago = now - timedelta(days=31)
    old = [delivery(endpoint, number, delivered_at=long_ago, tried_at=long_ago) for number in range(1, 6)]
    owed = delivery(endpoint, 6, delivered_at=None, tried_at=long_ago)  # still pending: owed however old
    lately = delivery(endpoint, 7, delivered_at=now - timedelta(days=29), tried_at=now - timedelta(days=29))
    sent_again = delivery(endpoint, 8, delivered_at=long_ago, tried_at=long_ago)
    Attempt.objects.create(delivery=sent_again, trigger=AttemptTrigger.MANUAL, started_at=now - timedelta(days=2))

    assert deliveries_prune(older_than=timedelta(days=30)) == (len(old), len(old))

    assert list(Delivery.objects.order_by("event_id")) == [owed, lately, sent_again]
    assert set(Attempt.objects.values_list("delivery_id", flat=True)) == {owed.pk, lately.pk, sent_again.pk}
    assert deliveries_prune(older_than=timedelta(days=30)) == (0, 0)


def test_a_pruned_event_is_never_planned_or_sent_again(world, receiver):
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    start = timezone.now()
    with time_machine.travel(start - timedelta(days=40), tick=False):
        sent = emit(world.school.pk, world.teacher.pk, count=3)
        run_jobs(world.school.pk)
    assert receiver.event_ids() == [event.pk for event in sent]

    assert deliveries_prune(older_than=timedelta(days=30)) == (3, 3)
    later = emit(world.school.pk, world.teacher.pk)
    run_jobs(world.school.pk)

    assert receiver.event_ids() == [event.pk for event in sent + later]
    assert list(Delivery.objects.filter(endpoint=endpoint).values_list("event_id", flat=True)) == [later[0].pk]


def test_the_log_is_never_pruned_under_a_day(world):
    with pytest.raises(ValidationFailed):
        deliveries_prune(older_than=timedelta(hours=23))


def test_the_command_prunes_by_the_setting_and_refuses_less_than_a_day(world, receiver, settings):
    assert settings.WEBHOOK_DELIVERY_RETENTION_DAYS == 30
    endpoint = endpoint_for(world.admin, world.school.pk, receiver)
    now = timezone.now()
    delivery(endpoint, 1, delivered_at=now - timedelta(days=4), tried_at=now - timedelta(days=4))
    kept = delivery(endpoint, 2, delivered_at=now - timedelta(days=2), tried_at=now - timedelta(days=2))

    out = StringIO()
    call_command("prune_webhook_deliveries", stdout=out)
    assert out.getvalue().strip() == "Deleted 0 webhook deliveries and their 0 attempts."
    with override_settings(WEBHOOK_DELIVERY_RETENTION_DAYS=3):
        call_command("prune_webhook_deliveries", stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == "Deleted 1 webhook deliveries and their 1 attempts."
    assert list(Delivery.objects.all()) == [kept]

    with override_settings(WEBHOOK_DELIVERY_RETENTION_DAYS=0), pytest.raises(CommandError):
        call_command("prune_webhook_deliveries", stdout=out)
