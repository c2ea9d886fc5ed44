"""The audit trail of the last days: completed sessions and new assessments, for the dashboards."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from chalkboard.demo import tables as t
from chalkboard.demo.context import SchoolContext
from chalkboard.demo.scores import AssessmentDraft
from chalkboard.demo.timetable import SessionDraft
from chalkboard.scheduling.models import SessionStatus


class Line(NamedTuple):
    at: datetime
    verb: str
    object_type: str
    object_id: int
    teacher_id: int
    data: dict[str, Any]


def add_activity_rows(ctx: SchoolContext, drafts: list[SessionDraft], assessments: list[AssessmentDraft]) -> None:
    since = ctx.anchor - timedelta(days=ctx.spec.activity_days)
    lines = [
        session_line(draft, draft.completed_at)
        for draft in drafts
        if draft.status == SessionStatus.COMPLETED and draft.completed_at is not None and draft.completed_at >= since
    ]
    lines.extend(assessment_line(assessment) for assessment in assessments if assessment.assessed_at >= since)
    lines.sort(key=lambda line: (line.at, line.verb, line.object_id))
    for line in lines:
        ctx.batch.add(
            t.ACTIVITY,
            id=ctx.ids.next(t.ACTIVITY),
            school_id=ctx.school.id,
            actor_id=line.teacher_id,
            teacher_id=line.teacher_id,
            verb=line.verb,
            object_type=line.object_type,
            object_id=line.object_id,
            data=line.data,
            created_at=line.at,
        )


def session_line(draft: SessionDraft, completed_at: datetime) -> Line:
    data = {
        "subject": draft.subject.name,
        "actual_duration_minutes": draft.actual_minutes,
        "student_ids": [student.id for student in draft.students],
    }
    return Line(completed_at, "session.completed", "session", draft.id, draft.teaching.teacher.id, data)


def assessment_line(assessment: AssessmentDraft) -> Line:
    data = {
        "student_id": assessment.student.id,
        "subject": assessment.subject.name,
        "kind": assessment.kind,
        "percentage": str(assessment.percentage),
    }
    return Line(assessment.assessed_at, "assessment.created", "assessment", assessment.id, assessment.teacher_id, data)
