"""Rows for sessions, their students' attendance and their notes."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalkboard.demo import tables as t
from chalkboard.demo import words
from chalkboard.demo.context import SchoolContext
from chalkboard.demo.timetable import SessionDraft
from chalkboard.scheduling.models import NoteVisibility, SessionStatus

NOTE_TEXTS: dict[str, tuple[str, ...]] = {
    NoteVisibility.SHARED: words.SHARED_NOTES,
    NoteVisibility.STAFF: words.STAFF_NOTES,
    NoteVisibility.ADMIN: words.ADMIN_NOTES,
}
BOOKED_AHEAD = timedelta(days=14)


def add_session_rows(ctx: SchoolContext, drafts: list[SessionDraft]) -> None:
    for draft in drafts:
        add_session(ctx, draft)
        attendance = draft.attendance or ("",) * len(draft.students)
        for student, mark in zip(draft.students, attendance, strict=True):
            ctx.batch.add(
                t.SESSION_STUDENT,
                id=ctx.ids.next(t.SESSION_STUDENT),
                session_id=draft.id,
                student_id=student.id,
                attendance=mark,
            )
        add_notes(ctx, draft)


def _versions(draft: SessionDraft) -> int:
    """Created, then settled, then perhaps amended: each change bumps the version."""
    return 1 + (draft.status != SessionStatus.SCHEDULED) + (draft.extra_minutes > 0)


def add_session(ctx: SchoolContext, draft: SessionDraft) -> None:
    created_at = min(draft.starts_at - BOOKED_AHEAD, ctx.anchor - timedelta(days=1))
    actual = None if draft.actual_minutes is None else draft.actual_minutes + draft.extra_minutes
    ctx.batch.add(
        t.SESSION,
        id=draft.id,
        school_id=ctx.school.id,
        teacher_id=draft.teaching.teacher.id,
        subject_id=draft.subject.id,
        starts_at=draft.starts_at,
        planned_duration_minutes=draft.planned_minutes,
        status=draft.status,
        location=draft.slot.location,
        completed_at=draft.completed_at,
        completed_by_id=draft.teaching.teacher.id if draft.completed_at else None,
        actual_duration_minutes=actual,
        cancelled_at=draft.cancelled_at,
        cancellation_reason=draft.cancellation_reason,
        version=_versions(draft),
        created_at=created_at,
        updated_at=draft.amended_at or draft.completed_at or draft.cancelled_at or created_at,
    )


def add_notes(ctx: SchoolContext, draft: SessionDraft) -> None:
    """Completed sessions get notes at each level now and then; a no-show sometimes gets a staff note."""
    if draft.completed_at is None:
        return
    if draft.status == SessionStatus.NO_SHOW:
        if ctx.rng.random() < 0.5:
            add_note(ctx, draft, NoteVisibility.STAFF, words.NO_SHOW_NOTE, draft.completed_at)
        return
    shares = zip(NoteVisibility.values, ctx.spec.note_shares, strict=True)
    for order, (visibility, share) in enumerate(shares):
        if ctx.rng.random() < share:
            text = note_text(ctx, draft, visibility)
            add_note(ctx, draft, visibility, text, draft.completed_at + timedelta(seconds=order))


def note_text(ctx: SchoolContext, draft: SessionDraft, visibility: str) -> str:
    skills = draft.subject.skills
    skill = ctx.rng.choice(skills)[1] if skills else draft.subject.name
    return ctx.rng.choice(NOTE_TEXTS[visibility]).format(skill=skill, page=ctx.rng.randint(10, 200))


def add_note(ctx: SchoolContext, draft: SessionDraft, visibility: str, text: str, at: datetime) -> None:
    """Staff and shared notes are the teacher's; admin notes are the school admin's."""
    author = ctx.school.admin if visibility == NoteVisibility.ADMIN else draft.teaching.teacher
    ctx.batch.add(
        t.SESSION_NOTE,
        id=ctx.ids.next(t.SESSION_NOTE),
        session_id=draft.id,
        author_id=author.id,
        visibility=visibility,
        text=text,
        created_at=at,
        updated_at=at,
    )
