"""Reading webhook endpoints and their delivery logs: only a school's owners and admins see its endpoints."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from chalkboard.common.errors import NotFound
from chalkboard.schools.access import STAFF, Viewer
from chalkboard.schools.models import Membership
from chalkboard.webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint


def endpoint_list(*, viewer: Viewer) -> QuerySet[Endpoint]:
    """The endpoints of every school the viewer owns or runs, oldest first; nothing for anyone else."""
    return Endpoint.objects.filter(school_id__in=viewer.schools_where(*STAFF)).order_by("id")


def endpoint_get_for_staff(*, viewer: Viewer, endpoint_id: int) -> Endpoint:
    """One endpoint of a school the viewer owns or runs; 404 for any other, as for one that does not exist."""
    endpoint = endpoint_list(viewer=viewer).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound()
    return endpoint


def delivery_list(*, endpoint: Endpoint) -> QuerySet[Delivery]:
    """The endpoint's delivery log, newest event first, each delivery with its attempts (oldest first): two
    queries a page. Check the viewer's right to the endpoint first (``endpoint_get_for_staff``)."""
    attempts = Prefetch("attempt_log", queryset=Attempt.objects.order_by("id"))
    return Delivery.objects.filter(endpoint=endpoint).order_by("-event_id").prefetch_related(attempts)


def delivery_get(*, endpoint: Endpoint, delivery_id: int) -> Delivery:
    """One delivery of the endpoint; 404 for another endpoint's."""
    delivery = Delivery.objects.filter(endpoint=endpoint, pk=delivery_id).select_related("endpoint").first()
    if delivery is None:
        raise NotFound()
    return delivery


def staff_still(user_id: Any, school_id: Any) -> QuerySet[Membership]:
    """The active owner and admin roles of an active user in a school (the ids may be references to an outer query)."""
    return Membership.objects.filter(
        user_id=user_id, school_id=school_id, role__in=STAFF, is_active=True, user__is_active=True
    )


def delivery_with_voucher(deliveries: QuerySet[Delivery]) -> QuerySet[Delivery]:
    """The deliveries with their endpoints, and ``vouched``: whether the endpoint's voucher still owns or runs
    its school (in the same query)."""
    voucher = staff_still(OuterRef("endpoint__vouched_by_id"), OuterRef("endpoint__school_id"))
    return deliveries.select_related("endpoint").annotate(vouched=Exists(voucher))


def delivery_head(*, endpoint_id: int) -> Delivery | None:
    """The endpoint's oldest pending delivery: the next to go (the later ones wait for it), with ``vouched``."""
    pending = Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING)
    return delivery_with_voucher(pending).order_by("event_id").first()
