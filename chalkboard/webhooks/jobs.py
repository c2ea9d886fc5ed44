"""The webhook jobs (Dramatiq actors, on the broker of ``chalkboard.common.jobs``). Each reads what is left to
do from the database, so running one twice, or after its worker was killed, does no harm."""

from __future__ import annotations

from typing import Any

import dramatiq
from django.utils import timezone

from chalkboard.common.jobs import job_send
from chalkboard.webhooks import services

QUEUE = "webhooks"
# A job that fails on its own (the database away) is tried again by Dramatiq's Retries, with its backoff.
MAX_RETRIES = 10
# The longest a job may run: a backlog is delivered in several, each well under a worker's patience.
TIME_LIMIT_MS = 10 * 60 * 1000


@dramatiq.actor(queue_name=QUEUE, max_retries=MAX_RETRIES, time_limit=TIME_LIMIT_MS)
def webhooks_plan(school_id: int) -> None:
    """Plan the school's new events for its endpoints, then deliver to each endpoint that has some."""
    for endpoint_id in services.endpoints_plan(school_id=school_id):
        job_send(webhook_deliver, endpoint_id)


@dramatiq.actor(queue_name=QUEUE, max_retries=MAX_RETRIES, time_limit=TIME_LIMIT_MS)
def webhook_deliver(endpoint_id: int) -> None:
    """Deliver what is due to the endpoint; when a retry waits, wake again at its time."""
    due = services.endpoint_deliver(endpoint_id=endpoint_id)
    if due is not None and services.endpoint_wake_at(endpoint_id=endpoint_id, due=due):
        job_send(webhook_deliver, endpoint_id, delay_ms=max(0, int((due - timezone.now()).total_seconds() * 1000)))


@dramatiq.actor(queue_name=QUEUE, max_retries=MAX_RETRIES, time_limit=TIME_LIMIT_MS)
def webhook_redeliver(delivery_id: int) -> None:
    """Send a delivered delivery once more (asked for by the school's staff)."""
    services.delivery_send_again(delivery_id=delivery_id)


def schools_committed(sender: Any, *, school_ids: frozenset[int], **kwargs: Any) -> None:
    """After a transaction wrote events (``realtime.signals.events_committed``): plan them for the schools
    that may have an endpoint. A school without one costs a cache read; a queue that is away, nothing (the
    next event of the school, or the sweep, plans what this would have)."""
    for school_id in services.schools_with_endpoints(school_ids):
        job_send(webhooks_plan, school_id)
