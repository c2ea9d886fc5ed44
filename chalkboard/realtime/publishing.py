"""Telling connected dashboards that new events are in the log.

After a write commits, a small nudge ``{"type": "events.available", "id": <event id>}`` goes through the
channel layer to the groups the event concerns. The nudge only says "look again": channel-layer delivery is
at most once (``channels_redis`` drops messages past a channel's capacity, and Redis may be down), so no
correctness rests on it. Every consumer reads the events themselves from the durable log, by id, and also
polls it at a regular interval, so a lost nudge only delays an event until the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer

logger = logging.getLogger("chalkboard.realtime")

NUDGE_TYPE = "events.available"
# A writer never waits longer than this for the channel layer: its change is committed already.
PUBLISH_TIMEOUT_SECONDS = 2.0


def staff_group(school_id: int) -> str:
    """Owners and admins of a school: every event of the school."""
    return f"school.{school_id}.staff"


def teacher_group(teacher_id: int, school_id: int) -> str:
    """One teacher in one school: the events about their own sessions, students and earnings there."""
    return f"teacher.{teacher_id}.school.{school_id}"


def event_groups(*, school_id: int, teacher_id: int | None) -> list[str]:
    groups = [staff_group(school_id)]
    if teacher_id is not None:
        groups.append(teacher_group(teacher_id, school_id))
    return groups


async def _send_all(layer: BaseChannelLayer, groups: list[str], message: dict[str, Any]) -> None:
    sends = [layer.group_send(group, message) for group in groups]
    await asyncio.wait_for(asyncio.gather(*sends), timeout=PUBLISH_TIMEOUT_SECONDS)


def event_publish(*, event_id: int, school_id: int, teacher_id: int | None) -> None:
    """Nudge the consumers concerned by a committed event. Never raises: the writer's change is already
    committed, and a consumer that misses the nudge finds the event at its next poll."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": NUDGE_TYPE, "id": event_id}
    try:
        async_to_sync(_send_all)(layer, event_groups(school_id=school_id, teacher_id=teacher_id), message)
    except Exception:
        logger.warning("could not publish event %s; dashboards find it at their next poll", event_id, exc_info=True)
