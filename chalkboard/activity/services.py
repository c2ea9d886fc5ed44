from __future__ import annotations

from typing import Any

from chalkboard.accounts.models import User
from chalkboard.activity.models import ActivityLog
from chalkboard.common.rows import rows_insert


def activity_record(
    *,
    actor: User | None,
    verb: str,
    object_type: str,
    object_id: int | None,
    school_id: int | None,
    teacher_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one line to the audit trail. Call it inside the transaction of the write it describes. Nothing
    reads the line back: in a pipeline (``rows_pipeline``) nobody waits for its answer."""
    line = ActivityLog(
        actor=actor,
        verb=verb,
        object_type=object_type,
        object_id=object_id,
        school_id=school_id,
        teacher_id=teacher_id,
        data=data or {},
    )
    rows_insert([line], keys=False)  # written by every write of the product: plain SQL (chalkboard.common.rows)
