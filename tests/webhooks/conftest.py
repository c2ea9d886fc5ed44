from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from chalkboard.realtime.models import Event, EventType
from chalkboard.realtime.services import event_emit
from chalkboard.schools.access import Viewer
from chalkboard.webhooks import services
from chalkboard.webhooks.models import Endpoint
from tests.webhooks.receivers import Receiver, running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running(Receiver()) as started:
        yield started


def endpoint_for(admin: Any, school_id: int, receiver: Receiver, **fields: Any) -> Endpoint:
    """An endpoint made as the school's admin would, its secret given to the receiver to verify with."""
    endpoint, secret = services.endpoint_create(
        viewer=Viewer.for_user(admin), school_id=school_id, url=receiver.url, event_types=[], **fields
    )
    receiver.secrets["current"] = secret
    return endpoint


def emit(
    school_id: int, teacher_id: int | None, count: int = 1, type: EventType = EventType.SESSION_UPDATED
) -> list[Event]:
    events = []
    for number in range(count):
        with transaction.atomic():
            events.append(
                event_emit(type=type, school_id=school_id, teacher_id=teacher_id, data={"session_id": number})
            )
    return events


def run_jobs(school_id: int) -> None:
    """What the jobs do after a commit, here and now: plan the school's events, deliver to its endpoints
    what is due."""
    for endpoint_id in services.endpoints_plan(school_id=school_id):
        services.endpoint_deliver(endpoint_id=endpoint_id)
