"""Sessions: each teacher's weekly lessons, repeated over the calendar, and what became of each one.

Every teacher has ``slots`` lessons a week, spread over all seven days (so a teacher with seven or more
has a session every day, "today" included, in any time zone). Who sits in a lesson changes each term.
A session that ended before the anchor is settled: completed (most), no-show, cancelled, or, when recent,
still waiting to be completed. Later sessions are scheduled, a few cancelled.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from chalkboard.demo import words
from chalkboard.demo.cast import StudentPlan, SubjectPlan, Teaching
from chalkboard.demo.context import SchoolContext
from chalkboard.demo.tables import SESSION
from chalkboard.scheduling.models import MAX_SESSION_MINUTES, Attendance, SessionStatus

SLOT_SPACING_MINUTES = 105  # the longest lesson plus a break: a teacher's lessons never overlap
SOLO_MINUTES = (45, 60, 60, 90)
GROUP_MINUTES = (60, 90)
ACTUAL_MINUTES_CHANGE = (-10, -5, 0, 0, 0, 0, 5, 10, 15)
# A group's attendance marks, and how often each one is given.
GROUP_MARKS: tuple[str, ...] = (Attendance.PRESENT, Attendance.LATE, Attendance.ABSENT, Attendance.EXCUSED)
GROUP_WEIGHTS: tuple[float, ...] = (80, 8, 8, 4)


@dataclass(frozen=True, eq=False)
class Slot:
    """A weekly lesson: which day of the week (counted from the calendar's first day), when, what."""

    teaching: Teaching
    day: int
    start: time
    minutes: int
    subject: SubjectPlan
    group_size: int
    location: str


@dataclass(slots=True, eq=False)
class SessionDraft:
    id: int
    slot: Slot
    starts_at: datetime
    students: tuple[StudentPlan, ...]
    status: str = SessionStatus.SCHEDULED
    actual_minutes: int | None = None
    extra_minutes: int = 0  # added by an amendment after the session was paid
    amended_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancellation_reason: str = ""
    attendance: tuple[str, ...] = ()

    @property
    def teaching(self) -> Teaching:
        return self.slot.teaching

    @property
    def subject(self) -> SubjectPlan:
        return self.slot.subject

    @property
    def planned_minutes(self) -> int:
        return self.slot.minutes

    @property
    def is_group(self) -> bool:
        return len(self.students) > 1

    def attended(self) -> Iterator[StudentPlan]:
        for student, attendance in zip(self.students, self.attendance, strict=True):
            if attendance in (Attendance.PRESENT, Attendance.LATE):
                yield student


# --- weekly lessons ---------------------------------------------------------------------------------
def _day_start(teaching: Teaching, weekday: int, per_day: int) -> int:
    """Minutes after midnight of a teacher's first lesson: evenings for a teacher from another school (after
    their own school's lessons), mornings at weekends and on full days, afternoons otherwise."""
    if teaching.guest:
        return 19 * 60
    if weekday >= 5 or per_day > 3:
        return 9 * 60
    return 15 * 60


def slots_for(ctx: SchoolContext, teaching: Teaching) -> list[Slot]:
    rng = ctx.rng
    per_day = -(-teaching.slots // 7)
    slots = []
    for number in range(teaching.slots):
        day, order = number % 7, number // 7
        weekday = (ctx.first_day + timedelta(days=day)).weekday()
        start = _day_start(teaching, weekday, per_day) + order * SLOT_SPACING_MINUTES + rng.choice((0, 0, 15))
        group = len(teaching.roster) > 1 and rng.random() < ctx.spec.group_share
        slots.append(
            Slot(
                teaching=teaching,
                day=day,
                start=time(start // 60, start % 60),
                minutes=rng.choice(GROUP_MINUTES if group else SOLO_MINUTES),
                subject=teaching.subjects[number % len(teaching.subjects)],
                group_size=rng.randint(2, min(4, len(teaching.roster))) if group else 1,
                location=rng.choice(words.LOCATIONS),
            )
        )
    return slots


def _roster_feed(roster: list[StudentPlan], rng: random.Random) -> Iterator[StudentPlan]:
    """The roster, over and over, shuffled each round: every student gets lessons."""
    order = list(roster)
    while True:
        rng.shuffle(order)
        yield from order


def seat_students(ctx: SchoolContext, teaching: Teaching, slots: list[Slot]) -> list[list[tuple[StudentPlan, ...]]]:
    """Who sits in each lesson, term by term."""
    feed = _roster_feed(teaching.roster, ctx.rng)
    terms = -(-ctx.weeks // ctx.spec.term_weeks)
    seating = []
    for _ in range(terms):
        term = []
        for slot in slots:
            seated: list[StudentPlan] = []
            while len(seated) < slot.group_size:
                student = next(feed)
                if student not in seated:
                    seated.append(student)
            term.append(tuple(sorted(seated, key=lambda student: student.id)))
        seating.append(term)
    return seating


# --- sessions ---------------------------------------------------------------------------------------
def session_drafts(ctx: SchoolContext) -> list[SessionDraft]:
    """Every session of the school, week by week (so ids follow time), each settled."""
    plans = []
    for teaching in ctx.school.ordered_teachings():
        slots = slots_for(ctx, teaching)
        plans.append((slots, seat_students(ctx, teaching, slots)))
    drafts = []
    for week in range(ctx.weeks):
        term = week // ctx.spec.term_weeks
        for slots, seating in plans:
            for slot, students in zip(slots, seating[term], strict=True):
                day = ctx.first_day + timedelta(weeks=week, days=slot.day)
                starts_at = ctx.at(day, slot.start)
                ends_at = starts_at + timedelta(minutes=slot.minutes)
                if ctx.is_booked(slot.teaching.teacher.id, starts_at, ends_at):
                    continue  # the teacher is teaching in another school then
                draft = SessionDraft(id=0, slot=slot, starts_at=starts_at, students=students)
                settle(ctx, draft)
                drafts.append(draft)
    drafts.sort(key=lambda draft: draft.starts_at)
    for draft in drafts:
        draft.id = ctx.ids.next(SESSION)
    return drafts


def settle(ctx: SchoolContext, draft: SessionDraft) -> None:
    """What became of the session, as of the anchor."""
    rng, spec = ctx.rng, ctx.spec
    ends_at = draft.starts_at + timedelta(minutes=draft.planned_minutes)
    if ends_at > ctx.anchor:
        if rng.random() < spec.cancel_share / 2:
            cancel(ctx, draft)
        return
    if ctx.anchor - ends_at < timedelta(days=spec.past_scheduled_days) and rng.random() < spec.past_scheduled_share:
        return
    roll = rng.random()
    if roll < spec.cancel_share:
        cancel(ctx, draft)
    elif roll < spec.cancel_share + spec.no_show_share:
        no_show(ctx, draft)
    else:
        complete(ctx, draft)


def cancel(ctx: SchoolContext, draft: SessionDraft) -> None:
    draft.status = SessionStatus.CANCELLED
    notice = timedelta(hours=ctx.rng.randint(2, 72))
    draft.cancelled_at = min(draft.starts_at - notice, ctx.anchor - timedelta(hours=1))
    draft.cancellation_reason = ctx.rng.choice(words.CANCELLATION_REASONS)


def no_show(ctx: SchoolContext, draft: SessionDraft) -> None:
    draft.status = SessionStatus.NO_SHOW
    draft.completed_at = min(draft.starts_at + timedelta(minutes=draft.planned_minutes + 10), ctx.anchor)
    draft.attendance = tuple(Attendance.ABSENT for _ in draft.students)


def complete(ctx: SchoolContext, draft: SessionDraft) -> None:
    rng = ctx.rng
    draft.status = SessionStatus.COMPLETED
    minutes = draft.planned_minutes + rng.choice(ACTUAL_MINUTES_CHANGE)
    draft.actual_minutes = max(1, min(minutes, MAX_SESSION_MINUTES))
    done = draft.starts_at + timedelta(minutes=draft.actual_minutes + rng.randint(5, 180))
    draft.completed_at = min(done, ctx.anchor)
    draft.attendance = attendance_for(rng, len(draft.students))


def attendance_for(rng: random.Random, count: int) -> tuple[str, ...]:
    """Everyone came to a one-to-one lesson that took place; in a group, at least one did."""
    if count == 1:
        return (Attendance.PRESENT if rng.random() < 0.9 else Attendance.LATE,)
    attendance = rng.choices(GROUP_MARKS, weights=GROUP_WEIGHTS, k=count)
    if not any(mark in (Attendance.PRESENT, Attendance.LATE) for mark in attendance):
        attendance[0] = Attendance.PRESENT
    return tuple(attendance)
