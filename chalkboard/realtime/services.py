"""Recording what changed: one call per write, inside its transaction.

``event_emit`` appends the event to the durable log in the caller's transaction and, once that commits,
bumps the cache versions the change affects, so the next read of a dashboard, a progress page or an
earnings page is fresh in every process. A rolled-back write records and bumps nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalkboard.common.cache import school_scope, student_scope, teacher_scope, versions_bump_on_commit
from chalkboard.realtime.models import Event, EventType


def event_emit(
    *,
    type: EventType,
    school_id: int,
    teacher_id: int | None,
    data: dict[str, Any],
    student_ids: Iterable[int] = (),
) -> Event:
    event = Event.objects.create(type=type, school_id=school_id, teacher_id=teacher_id, data=data)
    scopes = [student_scope(student_id) for student_id in student_ids]
    if teacher_id is not None:
        scopes.append(teacher_scope(teacher_id, school_id))
    versions_bump_on_commit(scopes)
    return event


def school_changed(*, school_id: int) -> None:
    """A change to a school's people, subjects or settings: every cached page of the school is rebuilt."""
    versions_bump_on_commit([school_scope(school_id)])
