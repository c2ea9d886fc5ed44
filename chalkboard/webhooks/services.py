"""Webhook endpoints (made, changed, re-keyed, deleted by a school's owners and admins) and the delivery of
the school's events to them (docs/webhooks.md).

Delivery, at least once and in the school's commit order:

1. **Planning** (``endpoints_plan``, a job after every transaction that wrote events of a school with an
   endpoint): each endpoint's ``cursor`` (a disabled one's too) follows the school's events up to the log's
   horizon (``chalkboard.realtime.log``: no event can still commit below it), and every event it wants
   becomes a ``Delivery`` carrying the exact body it is signed and sent with. One transaction per batch, the
   endpoints' rows locked: two planners of one school take turns, and a delivery is planned once
   (``webhook_delivery_once_per_event``).
2. **Delivering** (``endpoint_deliver``, a job per endpoint): one deliverer per endpoint at a time (a lock
   that dies with its worker's connection), oldest pending delivery first. A 2xx marks it delivered and the
   next one goes; any other answer, a timeout or a refused address schedules its retry
   (``RETRY_DELAYS``, with jitter) and the later deliveries wait behind it. When the schedule is spent the
   endpoint is disabled, with the reason, and nothing is dropped: re-enabled, it resumes where it stopped.

An endpoint sends a school's events, children's included, wherever its URL points: it runs on the word of
the owner or admin who made it, or last enabled it or changed its URL (``vouched_by``). When that person no
longer owns or runs the school (their role revoked, their account closed), it is disabled at once, and
checked again before every attempt; another owner or admin who enables it vouches for it from then on.

Each attempt is written before the call (``in_flight``) and its outcome right after: a worker killed in
between leaves the attempt ``in_flight`` and the delivery pending, so it goes again. Only a kill between a
receiver's 2xx and the commit that records it (a few milliseconds) sends the same ``webhook-id`` twice.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from standardwebhooks.webhooks import Webhook

from chalkboard.activity.services import activity_record
from chalkboard.common.errors import Conflict, ValidationFailed
from chalkboard.common.jobs import job_send
from chalkboard.realtime.log import event_horizon_wait
from chalkboard.realtime.models import EventType
from chalkboard.realtime.selectors import event_messages_of_school_after
from chalkboard.schools.access import STAFF, Action, Viewer
from chalkboard.schools.models import Membership, School
from chalkboard.webhooks import outbound
from chalkboard.webhooks.models import Attempt, AttemptOutcome, AttemptTrigger, Delivery, DeliveryStatus, Endpoint
from chalkboard.webhooks.selectors import delivery_head, delivery_with_voucher, staff_still

MAX_ENDPOINTS_PER_SCHOOL = 20
SECRET_BYTES = 32
# How long the previous secret still signs after a rotation, unless the rotation says otherwise.
ROTATION_OVERLAP = timedelta(hours=24)
MAX_ROTATION_OVERLAP = timedelta(days=7)
# The Standard Webhooks schedule: after the first attempt fails, retries after these delays (each with
# JITTER either way), about 28 hours in all; the attempt after the last retry fails disables the endpoint.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.2
PLAN_BATCH = 500
PRUNE_BATCH = 1_000
# The delivery log is kept at least this long: staff look back at what was sent, and send it again.
MINIMUM_DELIVERY_RETENTION = timedelta(days=1)
# Whether a school has an endpoint, remembered so that a write in a school without one queues nothing.
ENDPOINTS_FLAG_SECONDS = 300
# "None" is remembered for less: a planning job that read it just before an endpoint was made may write it
# after the making forgot it, and the new endpoint's events then wait this long for their planning.
NO_ENDPOINTS_FLAG_SECONDS = 30

UNKNOWN_SCHOOL = "Unknown school."
TOO_MANY = f"The school has {MAX_ENDPOINTS_PER_SCHOOL} webhook endpoints already: delete one first."
UNKNOWN_EVENT_TYPE = "Unknown event type."
DISABLED = "The endpoint is disabled: enable it first."
NO_LONGER_VOUCHED = (
    "Disabled because the owner or admin it sent on the word of no longer owns or runs the school. "
    "Enabling it again vouches for it."
)
RETENTION_TOO_SHORT = "Webhook deliveries must be kept at least a day."
SCHEDULE_SPENT = "Disabled after {attempts} failed attempts at event {event_id} over {hours} hours; the last: {last}."


def _secret_new() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _validated(url: str | None, event_types: list[str] | None) -> None:
    if url is not None and (problem := outbound.url_problem(url)) is not None:
        raise ValidationFailed(problem, fields={"url": [problem]})
    if event_types is not None and not set(event_types) <= set(EventType.values):
        raise ValidationFailed(UNKNOWN_EVENT_TYPE, fields={"event_types": [UNKNOWN_EVENT_TYPE]})


def _flag_key(school_id: int) -> str:
    return f"webhooks:has-endpoints:{school_id}"


def _endpoints_changed(school_id: int) -> None:
    transaction.on_commit(lambda: cache.delete(_flag_key(school_id)))


def schools_with_endpoints(school_ids: frozenset[int]) -> list[int]:
    """Which of these schools may have an endpoint: those the cache says have one, and those it does not
    know (their planning job finds out, and remembers it). A cache read, never a query: this runs after every
    transaction that writes events."""
    keys = {_flag_key(school_id): school_id for school_id in school_ids}
    known = cache.get_many(list(keys))
    return sorted(school_id for key, school_id in keys.items() if known.get(key, True))


def _has_endpoints_remember(school_id: int) -> bool:
    has = Endpoint.objects.filter(school_id=school_id).exists()
    cache.set(_flag_key(school_id), has, ENDPOINTS_FLAG_SECONDS if has else NO_ENDPOINTS_FLAG_SECONDS)
    return has


@sensitive_variables("secret")
def endpoint_create(
    *, viewer: Viewer, school_id: int, url: str, event_types: list[str], description: str = ""
) -> tuple[Endpoint, str]:
    """A new endpoint of a school the viewer owns or runs, and its secret (shown once). It receives the events
    written from now on. 400 for a school the viewer is not in (as for one that does not exist); 403 for one
    they are in but neither own nor run."""
    if school_id not in viewer.roles:
        raise ValidationFailed(UNKNOWN_SCHOOL, fields={"school_id": [UNKNOWN_SCHOOL]})
    viewer.require(Action.WEBHOOKS_MANAGE, school_id)
    _validated(url, event_types)
    secret = _secret_new()
    horizon = event_horizon_wait()
    with transaction.atomic():
        # The school's endpoints are counted under its row's lock, so the limit holds under a burst.
        School.objects.select_for_update().filter(pk=school_id).first()
        if Endpoint.objects.filter(school_id=school_id).count() >= MAX_ENDPOINTS_PER_SCHOOL:
            raise ValidationFailed(TOO_MANY, code="too_many_endpoints")
        endpoint = Endpoint.objects.create(
            school_id=school_id,
            url=url,
            description=description,
            event_types=sorted(set(event_types)),
            secret=secret,
            created_by=viewer.user,
            vouched_by=viewer.user,
            cursor=horizon,
        )
        _record(viewer, endpoint, "webhook_endpoint.created", {"url": url, "event_types": endpoint.event_types})
        _endpoints_changed(school_id)
    return endpoint, secret


def _record(viewer: Viewer, endpoint: Endpoint, verb: str, data: dict[str, object] | None = None) -> None:
    activity_record(
        actor=viewer.user,
        verb=verb,
        object_type="webhook_endpoint",
        object_id=endpoint.pk,
        school_id=endpoint.school_id,
        data=data,
    )


def endpoint_update(
    *,
    viewer: Viewer,
    endpoint: Endpoint,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Endpoint:
    """Change an endpoint of a school the viewer owns or runs. Enabling a disabled one resumes its deliveries
    where they stopped, each due at once with a fresh schedule."""
    viewer.require(Action.WEBHOOKS_MANAGE, endpoint.school_id)
    _validated(url, event_types)
    changed: dict[str, object] = {}
    if url is not None:
        changed["url"] = url
    if event_types is not None:
        changed["event_types"] = sorted(set(event_types))
    if description is not None:
        changed["description"] = description
    enabling = is_active is True and not endpoint.is_active
    if is_active is not None and is_active != endpoint.is_active:
        changed["is_active"] = is_active
        changed["disabled_reason"] = "" if is_active else "Disabled by the school's staff."
        changed["disabled_at"] = None if is_active else timezone.now()
    if not changed:
        return endpoint
    if url is not None or enabling:
        changed["vouched_by"] = viewer.user
    with transaction.atomic():
        for field, value in changed.items():
            setattr(endpoint, field, value)
        endpoint.save(update_fields=[*changed, "updated_at"])
        if enabling:
            pending = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING)
            pending.update(next_attempt_at=timezone.now(), failed_attempts=0)
        _record(viewer, endpoint, "webhook_endpoint.updated", {"fields": sorted(set(changed) - {"vouched_by"})})
    if enabling:
        _after_commit_deliver(endpoint.pk)
    return endpoint


@sensitive_variables("secret")
def endpoint_rotate_secret(*, viewer: Viewer, endpoint: Endpoint, overlap: timedelta = ROTATION_OVERLAP) -> str:
    """A new secret (shown once). The current one still signs, beside it, for ``overlap``: receivers verify
    either while they switch."""
    viewer.require(Action.WEBHOOKS_MANAGE, endpoint.school_id)
    if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        raise ValidationFailed(
            "The overlap is from 0 seconds to 7 days.", fields={"overlap_seconds": ["Out of range."]}
        )
    secret = _secret_new()
    with transaction.atomic():
        endpoint.previous_secret = endpoint.secret if overlap else ""
        endpoint.previous_secret_expires_at = timezone.now() + overlap if overlap else None
        endpoint.secret = secret
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
        _record(viewer, endpoint, "webhook_endpoint.secret_rotated", {"overlap_seconds": int(overlap.total_seconds())})
    return secret


def endpoint_delete(*, viewer: Viewer, endpoint: Endpoint) -> None:
    """Delete an endpoint, its deliveries and their log: nothing more is sent to it."""
    viewer.require(Action.WEBHOOKS_MANAGE, endpoint.school_id)
    with transaction.atomic():
        _record(viewer, endpoint, "webhook_endpoint.deleted", {"url": endpoint.url})
        endpoint.delete()
        _endpoints_changed(endpoint.school_id)


def delivery_redeliver(*, viewer: Viewer, delivery: Delivery) -> None:
    """Send a delivery again. A delivered one is sent once more, now (a manual attempt: the receiver lost
    it); a pending one is made due now, and still goes only in its turn. 409 while the endpoint is disabled."""
    viewer.require(Action.WEBHOOKS_MANAGE, delivery.endpoint.school_id)
    if not delivery.endpoint.is_active:
        raise Conflict(DISABLED)
    with transaction.atomic():
        if delivery.status == DeliveryStatus.PENDING:
            Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        _record(viewer, delivery.endpoint, "webhook_delivery.redelivered", {"event_id": delivery.event_id})
    from chalkboard.webhooks import jobs  # (which imports this module)

    if delivery.status == DeliveryStatus.PENDING:
        _after_commit_deliver(delivery.endpoint_id)
    else:
        transaction.on_commit(lambda: job_send(jobs.webhook_redeliver, delivery.pk))


def _after_commit_deliver(endpoint_id: int) -> None:
    from chalkboard.webhooks import jobs  # (which imports this module)

    transaction.on_commit(lambda: job_send(jobs.webhook_deliver, endpoint_id))


# --- Planning and delivering (run by the jobs in chalkboard.webhooks.jobs). -------------------------------


def payload_of(message: dict[str, object]) -> str:
    """The body of an event's delivery (Standard Webhooks' ``type``, ``timestamp`` and ``data``), ``data``
    being the event exactly as the school's staff receive it on the dashboard socket."""
    body = {"type": message["type"], "timestamp": message["occurred_at"], "data": message}
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"))


def endpoints_plan(*, school_id: int) -> list[int]:
    """Plan every event of the school up to the log's horizon for each of its endpoints that wants it (a
    disabled one too: enabled again, it resumes with everything since). The active endpoints that have pending
    deliveries afterwards, to deliver."""
    if not _has_endpoints_remember(school_id):
        return []
    horizon = event_horizon_wait()
    while True:
        with transaction.atomic():
            endpoints = list(
                Endpoint.objects.select_for_update().filter(school_id=school_id, cursor__lt=horizon).order_by("id")
            )
            if not endpoints:
                break
            messages = event_messages_of_school_after(
                school_id=school_id, after_id=min(e.cursor for e in endpoints), upto_id=horizon, limit=PLAN_BATCH
            )
            upto = messages[-1]["id"] if len(messages) == PLAN_BATCH else horizon
            now = timezone.now()
            deliveries = [
                Delivery(
                    endpoint=endpoint,
                    event_id=message["id"],
                    event_type=message["type"],
                    payload=payload_of(message),
                    next_attempt_at=now,
                )
                for endpoint in endpoints
                for message in messages
                if message["id"] > endpoint.cursor
                and (not endpoint.event_types or message["type"] in endpoint.event_types)
            ]
            Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
            Endpoint.objects.filter(pk__in=[e.pk for e in endpoints]).update(cursor=Greatest("cursor", upto))
        if upto == horizon:
            break
    pending = Delivery.objects.filter(
        endpoint__school_id=school_id, endpoint__is_active=True, status=DeliveryStatus.PENDING
    )
    return sorted(set(pending.values_list("endpoint_id", flat=True)))


# pg_try_advisory_lock takes two int4 keys: "WHKS" (no other lock of Chalkboard's), and the endpoint's id.
_DELIVERER_LOCK = 0x57484B53
_local_deliverers: set[int] = set()
_local_deliverers_lock = threading.Lock()


def _deliverer(endpoint_id: int) -> AbstractContextManager[bool]:
    """Whether this worker is the endpoint's one deliverer until the block ends. On PostgreSQL a session lock:
    a worker that dies loses its connection, and the lock with it, at once. On SQLite (the embedded default:
    one process) a lock of the process."""
    if connections[Endpoint.objects.db].vendor == "postgresql":
        return _deliverer_on_postgresql(endpoint_id)  # only on PostgreSQL
    return _deliverer_in_process(endpoint_id)  # only on SQLite


@contextmanager
def _deliverer_on_postgresql(endpoint_id: int) -> Iterator[bool]:  # only on PostgreSQL
    key = [_DELIVERER_LOCK, endpoint_id % 2**31]
    with connections[Endpoint.objects.db].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connections[Endpoint.objects.db].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


@contextmanager
def _deliverer_in_process(endpoint_id: int) -> Iterator[bool]:  # only on SQLite
    with _local_deliverers_lock:
        held = endpoint_id not in _local_deliverers
        _local_deliverers.add(endpoint_id)
    try:
        yield held
    finally:
        if held:
            with _local_deliverers_lock:
                _local_deliverers.discard(endpoint_id)


def endpoint_deliver(*, endpoint_id: int) -> datetime | None:
    """Deliver the endpoint's due deliveries, oldest first, until one fails or none is due. When its next
    pending delivery is due (a retry to schedule), or ``None``: nothing pending, the endpoint disabled, or
    another worker delivering to it (that worker looks again once it lets go, so nothing is stranded)."""
    while True:
        with _deliverer(endpoint_id) as held:
            if not held:
                return None
            due = _deliver_while_due(endpoint_id)
        if due is not None or not _due_now(endpoint_id):
            return due


def endpoint_wake_at(*, endpoint_id: int, due: datetime) -> bool:
    """Whether a job should be scheduled to wake at ``due`` for the endpoint's next retry: not when one is
    scheduled already between now and then (it will schedule the next), so however many jobs find the same
    retry waiting, one wakes for it."""
    covered = Q(wake_at__gte=timezone.now(), wake_at__lte=due)
    return bool(Endpoint.objects.filter(pk=endpoint_id).exclude(covered).update(wake_at=due))


def _due_now(endpoint_id: int) -> bool:
    head = delivery_head(endpoint_id=endpoint_id)
    return head is not None and head.endpoint.is_active and head.next_attempt_at <= timezone.now()


def _deliver_while_due(endpoint_id: int) -> datetime | None:
    while True:
        head = delivery_head(endpoint_id=endpoint_id)
        if head is None or not _sendable(head):
            return None
        if head.next_attempt_at > timezone.now():
            return head.next_attempt_at
        attempt = _attempt(head, trigger=AttemptTrigger.SCHEDULED)
        if attempt.outcome != AttemptOutcome.DELIVERED:
            head.refresh_from_db(fields=["next_attempt_at", "status"])
            head.endpoint.refresh_from_db(fields=["is_active"])
            return head.next_attempt_at if head.endpoint.is_active else None


def delivery_send_again(*, delivery_id: int) -> Attempt | None:
    """The manual attempt of ``delivery_redeliver`` for a delivered delivery (a job): sent once, now."""
    delivery = delivery_with_voucher(Delivery.objects.filter(pk=delivery_id)).first()
    if delivery is None or not _sendable(delivery):
        return None
    return _attempt(delivery, trigger=AttemptTrigger.MANUAL)


@sensitive_variables("endpoint")
def signature_headers(*, endpoint: Endpoint, message_id: str, at: datetime, payload: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: signed with the current secret, and with the previous
    one too while a rotation's overlap lasts."""
    secrets_in_force = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > at:
        secrets_in_force.append(endpoint.previous_secret)
    signatures = [Webhook(secret).sign(message_id, at, payload) for secret in secrets_in_force]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
        "Content-Type": "application/json",
    }


def _attempt(delivery: Delivery, *, trigger: AttemptTrigger) -> Attempt:
    endpoint = delivery.endpoint
    started = timezone.now()
    attempt = Attempt.objects.create(delivery=delivery, trigger=trigger, started_at=started)
    headers = signature_headers(endpoint=endpoint, message_id=delivery.message_id, at=started, payload=delivery.payload)
    result = outbound.post(endpoint.url, body=delivery.payload.encode(), headers=headers)
    with transaction.atomic():
        attempt.outcome, attempt.status_code, attempt.latency_ms = result.outcome, result.status_code, result.latency_ms
        attempt.response_excerpt, attempt.error = result.excerpt, result.error
        attempt.save(update_fields=["outcome", "status_code", "latency_ms", "response_excerpt", "error"])
        if result.delivered:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, timezone.now()
            delivery.save(update_fields=["status", "delivered_at"])
        elif trigger == AttemptTrigger.SCHEDULED:
            _failed(delivery, attempt)
    return attempt


def _first_tried(delivery: Delivery) -> datetime:
    first = Attempt.objects.filter(delivery=delivery).order_by("id").values_list("started_at", flat=True).first()
    return first or timezone.now()


def _failed(delivery: Delivery, attempt: Attempt) -> None:
    delivery.failed_attempts += 1
    if delivery.failed_attempts <= len(RETRY_DELAYS):
        delay = RETRY_DELAYS[delivery.failed_attempts - 1].total_seconds()
        jittered = delay * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 (spreading retries, not a secret)  # nosec B311
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=jittered)
        delivery.save(update_fields=["failed_attempts", "next_attempt_at"])
        return
    delivery.save(update_fields=["failed_attempts"])
    last = f"HTTP {attempt.status_code}" if attempt.status_code else (attempt.error or attempt.outcome)
    hours = max(1, round((timezone.now() - _first_tried(delivery)).total_seconds() / 3600))
    reason = SCHEDULE_SPENT.format(
        attempts=delivery.failed_attempts, event_id=delivery.event_id, hours=hours, last=last
    )
    _disable(delivery.endpoint, reason)


def _disable(endpoint: Endpoint, reason: str) -> None:
    """Disable an endpoint for a reason of Chalkboard's own (no one's request), and say why in its audit log."""
    endpoint.is_active, endpoint.disabled_at, endpoint.disabled_reason = False, timezone.now(), reason[:500]
    endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason", "updated_at"])
    activity_record(
        actor=None,
        verb="webhook_endpoint.disabled",
        object_type="webhook_endpoint",
        object_id=endpoint.pk,
        school_id=endpoint.school_id,
        data={"reason": endpoint.disabled_reason},
    )


def _sendable(delivery: Delivery) -> bool:
    """Whether the delivery's endpoint may send now: enabled, and still vouched for by one who owns or runs its
    school (``delivery_with_voucher`` read that with the delivery); an endpoint no longer vouched for is
    disabled here."""
    endpoint = delivery.endpoint
    if endpoint.is_active and not delivery.vouched:  # type: ignore[attr-defined]
        with transaction.atomic():
            _disable(endpoint, NO_LONGER_VOUCHED)
    return endpoint.is_active


def endpoints_of_leaver_disable(*, membership: Membership, **_: object) -> None:
    """When someone stops owning or running a school (``membership_deactivated``, inside that transaction),
    disable the school's endpoints they vouch for: nobody who left keeps receiving the school's events."""
    if membership.role not in STAFF or staff_still(membership.user_id, membership.school_id).exists():
        return
    vouched = Endpoint.objects.filter(school_id=membership.school_id, vouched_by_id=membership.user_id, is_active=True)
    with transaction.atomic():  # the caller's transaction, as a rule
        for endpoint in vouched.select_for_update():
            _disable(endpoint, NO_LONGER_VOUCHED)


def webhooks_sweep() -> tuple[list[int], list[int]]:
    """What a lost job would have done: the schools with an endpoint, to plan; the active endpoints with a
    delivery due now, to deliver to. Two queries."""
    school_ids = sorted(set(Endpoint.objects.values_list("school_id", flat=True)))
    due = Delivery.objects.filter(
        endpoint__is_active=True, status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
    )
    return school_ids, sorted(set(due.values_list("endpoint_id", flat=True)))


def deliveries_prune(*, older_than: timedelta) -> tuple[int, int]:
    """Delete the deliveries delivered more than ``older_than`` ago, with their attempts, in batches; how many
    deliveries and attempts were deleted. A delivery still owed (pending) is kept however old, and one sent
    again by hand within ``older_than`` is kept with it. An endpoint's cursor has gone past every delivery
    deleted, so none of their events is planned again."""
    if older_than < MINIMUM_DELIVERY_RETENTION:
        raise ValidationFailed(RETENTION_TOO_SHORT)
    cutoff = timezone.now() - older_than
    tried_since = Attempt.objects.filter(delivery=OuterRef("pk"), started_at__gte=cutoff)
    old = Delivery.objects.filter(status=DeliveryStatus.DELIVERED, delivered_at__lt=cutoff).exclude(Exists(tried_since))
    deliveries = attempts = 0
    while batch := list(old.order_by("id").values_list("id", flat=True)[:PRUNE_BATCH]):
        with transaction.atomic():
            attempts += Attempt.objects.filter(delivery_id__in=batch).delete()[0]
            deliveries += Delivery.objects.filter(id__in=batch).delete()[1].get(Delivery._meta.label, 0)
    return deliveries, attempts
