"""Assessments, and the progress and goals that follow from them.

Assessments are drawn from the students who attended completed sessions (homework and projects are
handed in later and belong to no session). A student's marks start near their ability and drift with
their growth over the calendar. Progress rows are what the product computes from the same assessments
(``progress.scoring``), as of the anchor: one per student and subject they have sessions in
(``not_started`` without assessments), one per skill assessed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from chalkboard.demo import tables as t
from chalkboard.demo import words
from chalkboard.demo.cast import StudentPlan, SubjectPlan, to_cents
from chalkboard.demo.context import SchoolContext
from chalkboard.demo.timetable import SessionDraft
from chalkboard.progress.models import AssessmentKind
from chalkboard.progress.scoring import EVIDENCE_LIMIT, Evidence, assessment_percentage, standing_for
from chalkboard.scheduling.models import SessionStatus

KIND_MAX_SCORES: dict[str, int] = {
    AssessmentKind.QUIZ: 10,
    AssessmentKind.TEST: 50,
    AssessmentKind.HOMEWORK: 20,
    AssessmentKind.EXAM: 100,
    AssessmentKind.PROJECT: 100,
    AssessmentKind.ORAL: 10,
    AssessmentKind.OBSERVATION: 5,
}
OFF_SESSION_KINDS = frozenset({AssessmentKind.HOMEWORK, AssessmentKind.PROJECT})
HANDED_IN_AFTER = timedelta(days=2)
SKILL_SHARE = 0.7
SCORE_NOISE = 0.08
GOAL_TARGETS = (70, 75, 80, 85, 90)
ProgressKey = tuple[int, int, int | None]  # student, subject, skill


@dataclass(slots=True, eq=False)
class AssessmentDraft:
    id: int
    student: StudentPlan
    subject: SubjectPlan
    skill_id: int | None
    teacher_id: int
    session_id: int | None
    kind: str
    score: Decimal
    max_score: Decimal
    percentage: Decimal
    assessed_at: datetime


@dataclass(frozen=True, eq=False)
class Enrolment:
    """A student taking a subject in the school: who first taught it to them, and when."""

    student: StudentPlan
    subject: SubjectPlan
    teacher_id: int
    since: datetime


def add_score_rows(ctx: SchoolContext, drafts: list[SessionDraft]) -> list[AssessmentDraft]:
    assessments = assessment_drafts(ctx, drafts)
    for assessment in assessments:
        add_assessment(ctx, assessment)
    add_progress_rows(ctx, enrolments(drafts), assessments)
    return assessments


# --- assessments ------------------------------------------------------------------------------------
def assessment_drafts(ctx: SchoolContext, drafts: list[SessionDraft]) -> list[AssessmentDraft]:
    candidates = [
        (draft, student) for draft in drafts if draft.status == SessionStatus.COMPLETED for student in draft.attended()
    ]
    quota = ctx.spec.assessments_per_school
    picked = candidates if len(candidates) <= quota else ctx.rng.sample(candidates, quota)
    picked.sort(key=lambda pair: (pair[0].starts_at, pair[0].id, pair[1].id))
    return [assessment_draft(ctx, draft, student) for draft, student in picked]


def mark_share(ctx: SchoolContext, student: StudentPlan, at: datetime) -> float:
    """The share of the marks the student scores at ``at``."""
    start = ctx.at(ctx.first_day, time(0))
    elapsed = (at - start) / timedelta(weeks=ctx.weeks)
    share = student.ability + student.growth * elapsed + ctx.rng.gauss(0, SCORE_NOISE)
    return min(1.0, max(0.0, share))


def assessment_draft(ctx: SchoolContext, draft: SessionDraft, student: StudentPlan) -> AssessmentDraft:
    rng = ctx.rng
    kind = rng.choice(AssessmentKind.values)
    max_score = to_cents(Decimal(KIND_MAX_SCORES[kind]))
    score = to_cents(Decimal(round(mark_share(ctx, student, draft.starts_at) * KIND_MAX_SCORES[kind] * 2)) / 2)
    skills = draft.subject.skills
    skill_id = rng.choice(skills)[0] if skills and rng.random() < SKILL_SHARE else None
    off_session = kind in OFF_SESSION_KINDS
    ended = draft.starts_at + timedelta(minutes=draft.actual_minutes or draft.planned_minutes)
    assessed_at = draft.starts_at + HANDED_IN_AFTER if off_session else ended
    return AssessmentDraft(
        id=ctx.ids.next(t.ASSESSMENT),
        student=student,
        subject=draft.subject,
        skill_id=skill_id,
        teacher_id=draft.teaching.teacher.id,
        session_id=None if off_session else draft.id,
        kind=kind,
        score=score,
        max_score=max_score,
        percentage=assessment_percentage(score=score, max_score=max_score),
        assessed_at=min(assessed_at, ctx.anchor),
    )


def add_assessment(ctx: SchoolContext, assessment: AssessmentDraft) -> None:
    ctx.batch.add(
        t.ASSESSMENT,
        id=assessment.id,
        school_id=ctx.school.id,
        student_id=assessment.student.id,
        subject_id=assessment.subject.id,
        skill_id=assessment.skill_id,
        teacher_id=assessment.teacher_id,
        session_id=assessment.session_id,
        kind=assessment.kind,
        score=assessment.score,
        max_score=assessment.max_score,
        percentage=assessment.percentage,
        assessed_at=assessment.assessed_at,
        comments=ctx.rng.choice(words.ASSESSMENT_COMMENTS),
        created_at=assessment.assessed_at,
        updated_at=assessment.assessed_at,
    )


# --- progress and goals -----------------------------------------------------------------------------
def enrolments(drafts: list[SessionDraft]) -> dict[tuple[int, int], Enrolment]:
    """Every (student, subject) with a session, from the earliest one (``drafts`` are in time order)."""
    found: dict[tuple[int, int], Enrolment] = {}
    for draft in drafts:
        for student in draft.students:
            key = (student.id, draft.subject.id)
            if key not in found:
                found[key] = Enrolment(student, draft.subject, draft.teaching.teacher.id, draft.starts_at)
    return found


def add_progress_rows(
    ctx: SchoolContext, enrolled: dict[tuple[int, int], Enrolment], assessments: list[AssessmentDraft]
) -> None:
    # Newest first, ties by id: the order in which the product reads a scope's evidence.
    evidence: dict[ProgressKey, list[AssessmentDraft]] = defaultdict(list)
    for assessment in sorted(assessments, key=lambda item: (item.assessed_at, item.id), reverse=True):
        evidence[(assessment.student.id, assessment.subject.id, None)].append(assessment)
        if assessment.skill_id is not None:
            evidence[(assessment.student.id, assessment.subject.id, assessment.skill_id)].append(assessment)
    keys = {(student_id, subject_id, None) for student_id, subject_id in enrolled} | set(evidence)
    for key in sorted(keys, key=lambda key: (key[0], key[1], key[2] or 0)):
        enrolment = enrolled[key[:2]]
        percentage = add_progress(ctx, key, enrolment, evidence.get(key, []))
        if key[2] is None and ctx.rng.random() < ctx.spec.goal_share:
            add_goal(ctx, enrolment, percentage, evidence.get(key, []))


def add_progress(
    ctx: SchoolContext, key: ProgressKey, enrolment: Enrolment, newest_first: list[AssessmentDraft]
) -> Decimal | None:
    """The scope's progress as the product computes it from its latest evidence, as of the anchor."""
    latest = newest_first[:EVIDENCE_LIMIT]
    standing = standing_for(
        [Evidence(percentage=item.percentage, assessed_at=item.assessed_at) for item in latest], now=ctx.anchor
    )
    created_at = newest_first[-1].assessed_at if newest_first else enrolment.since
    ctx.batch.add(
        t.PROGRESS,
        id=ctx.ids.next(t.PROGRESS),
        student_id=key[0],
        subject_id=key[1],
        skill_id=key[2],
        level=standing.level,
        percentage=standing.percentage,
        trend=standing.trend,
        assessments_count=len(newest_first),
        last_assessed_at=standing.last_assessed_at,
        created_at=created_at,
        updated_at=standing.last_assessed_at or created_at,
    )
    return standing.percentage


def add_goal(
    ctx: SchoolContext, enrolment: Enrolment, percentage: Decimal | None, newest_first: list[AssessmentDraft]
) -> None:
    """A target set by the student's teacher; achieved when the subject's percentage reached it."""
    rng = ctx.rng
    target = Decimal(rng.choice(GOAL_TARGETS))
    created_at = min(enrolment.since + timedelta(days=rng.randint(1, 14)), ctx.anchor)
    achieved_at = newest_first[0].assessed_at if percentage is not None and percentage >= target else None
    ctx.batch.add(
        t.GOAL,
        id=ctx.ids.next(t.GOAL),
        student_id=enrolment.student.id,
        subject_id=enrolment.subject.id,
        skill_id=None,
        title=f"Reach {target}% in {enrolment.subject.name}",
        target_percentage=to_cents(target),
        due_date=ctx.anchor.date() + timedelta(days=rng.randint(14, 120)),
        achieved_at=achieved_at,
        created_by_id=enrolment.teacher_id,
        created_at=created_at,
        updated_at=achieved_at or created_at,
    )
