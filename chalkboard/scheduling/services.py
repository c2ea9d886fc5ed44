"""Writes of sessions: booking, rescheduling and cancelling. Completion lives in ``completion``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from chalkboard.activity.services import activity_record
from chalkboard.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chalkboard.common.services import model_update
from chalkboard.people.models import Student, Teacher
from chalkboard.people.selectors import assigned_to as teacher_assignment
from chalkboard.people.services import assignments_ensure
from chalkboard.realtime.models import EventType
from chalkboard.realtime.services import event_emit
from chalkboard.scheduling.models import Session, SessionStatus, SessionStudent
from chalkboard.scheduling.selectors import SESSION_MANAGE_FORBIDDEN, session_may_manage
from chalkboard.schools.access import Action, Viewer
from chalkboard.schools.models import Membership, Role, Subject

INVALID_FIELDS = "Some fields are invalid."
UNKNOWN_SCHOOL = "Unknown school."
SESSION_BOOKING_FORBIDDEN = "Only the school's owners, admins and teachers may book sessions."
TEACHER_BOOKS_OWN_ONLY = "A teacher may only book sessions they teach themselves."
TEACHER_REASSIGN_STAFF_ONLY = "Only the school's owners and admins may give a session to another teacher."
UNKNOWN_TEACHER = "Unknown teacher: not an active teacher of this school."
UNKNOWN_SUBJECT = "Unknown subject: not a subject of this school."
UNKNOWN_STUDENTS = "Unknown students, or not active students of this school: {ids}."
VERSION_MISMATCH = "The session has changed since you read it. Reload it and try again."

SESSION_NOT_CHANGEABLE: dict[str, str] = {
    SessionStatus.COMPLETED: "A completed session cannot be rescheduled or edited; amend its completion instead.",
    SessionStatus.NO_SHOW: "A session marked as a no-show cannot be rescheduled or edited.",
    SessionStatus.CANCELLED: "A cancelled session cannot be rescheduled or edited; book a new one instead.",
}
SESSION_NOT_CANCELLABLE: dict[str, str] = {
    SessionStatus.COMPLETED: "A completed session cannot be cancelled.",
    SessionStatus.NO_SHOW: "A session marked as a no-show cannot be cancelled.",
    SessionStatus.CANCELLED: "This session is already cancelled.",
}


@transaction.atomic
def session_create(
    *,
    viewer: Viewer,
    school_id: int,
    teacher_id: int,
    subject_id: int,
    student_ids: Sequence[int],
    starts_at: datetime,
    planned_duration_minutes: int,
    location: str = "",
) -> Session:
    """Book a session. Staff book for any teacher of their school, and so assign its students to that teacher;
    a teacher books only for themselves, and only with students the staff assigned to them."""
    _require_may_book(viewer=viewer, school_id=school_id, teacher_id=teacher_id)
    _validate_parties(
        school_id=school_id,
        teacher_id=teacher_id,
        subject_id=subject_id,
        student_ids=student_ids,
        assigned_to=_reach_of(viewer, school_id),
    )
    session = Session.objects.create(
        school_id=school_id,
        teacher_id=teacher_id,
        subject_id=subject_id,
        starts_at=starts_at,
        planned_duration_minutes=planned_duration_minutes,
        location=location,
    )
    SessionStudent.objects.bulk_create([SessionStudent(session=session, student_id=pk) for pk in student_ids])
    if viewer.is_staff_of(school_id):
        assignments_ensure(school_id=school_id, teacher_id=teacher_id, student_ids=student_ids, by=viewer.user)
    activity_record(
        actor=viewer.user,
        verb="session.created",
        object_type="session",
        object_id=session.pk,
        school_id=school_id,
        teacher_id=teacher_id,
        data={"starts_at": starts_at, "subject_id": subject_id, "student_ids": list(student_ids)},
    )
    _emit(EventType.SESSION_CREATED, session=session, student_ids=student_ids)
    return session


@transaction.atomic
def session_update(
    *,
    viewer: Viewer,
    session: Session,
    expected_version: int | None = None,
    starts_at: datetime | None = None,
    planned_duration_minutes: int | None = None,
    location: str | None = None,
    subject_id: int | None = None,
    student_ids: Sequence[int] | None = None,
    teacher_id: int | None = None,
) -> Session:
    """Reschedule or edit a scheduled session. ``None`` leaves a field as it is; ``expected_version``, when
    given, must be the current version. Any change bumps the version."""
    session = _lock(session)
    _require_may_manage(viewer=viewer, session=session)
    reassigning = teacher_id is not None and teacher_id != session.teacher_id
    if reassigning and not viewer.is_staff_of(session.school_id):
        raise Forbidden(TEACHER_REASSIGN_STAFF_ONLY)
    if session.status != SessionStatus.SCHEDULED:
        raise Conflict(SESSION_NOT_CHANGEABLE[session.status])
    if expected_version is not None and expected_version != session.version:
        raise Conflict(VERSION_MISMATCH, code="version_conflict")

    booked = list(SessionStudent.objects.filter(session=session).values_list("student_id", flat=True))
    added = [pk for pk in student_ids if pk not in booked] if student_ids is not None else []
    removed = [pk for pk in booked if pk not in student_ids] if student_ids is not None else []
    _validate_parties(
        school_id=session.school_id,
        teacher_id=teacher_id if reassigning else None,
        subject_id=subject_id if subject_id != session.subject_id else None,
        student_ids=added,
        assigned_to=_reach_of(viewer, session.school_id),
    )

    proposed = {
        "starts_at": starts_at,
        "planned_duration_minutes": planned_duration_minutes,
        "location": location,
        "subject_id": subject_id,
        "teacher_id": teacher_id,
    }
    previous = model_update(instance=session, data=proposed, save=False)  # saved below, with the version
    changes: dict[str, Any] = {field: [before, getattr(session, field)] for field, before in previous.items()}
    if added or removed:
        SessionStudent.objects.filter(session=session, student_id__in=removed).delete()
        SessionStudent.objects.bulk_create([SessionStudent(session=session, student_id=pk) for pk in added])
        changes["student_ids"] = {"added": added, "removed": removed}
    if not changes:
        return session

    if (added or reassigning) and viewer.is_staff_of(session.school_id):
        assignments_ensure(
            school_id=session.school_id,
            teacher_id=session.teacher_id,
            student_ids=[*added, *([pk for pk in booked if pk not in removed] if reassigning else [])],
            by=viewer.user,
        )
    previous_teacher_id = changes["teacher_id"][0] if "teacher_id" in changes else None
    session.version += 1
    field_names = [name for name in changes if name != "student_ids"]
    session.save(update_fields=[*field_names, "version", "updated_at"])
    activity_record(
        actor=viewer.user,
        verb="session.updated",
        object_type="session",
        object_id=session.pk,
        school_id=session.school_id,
        teacher_id=session.teacher_id,
        data={"changes": changes},
    )
    concerned = [*booked, *added]
    _emit(EventType.SESSION_UPDATED, session=session, student_ids=concerned)
    if previous_teacher_id is not None:  # the session left this teacher's day: tell them too
        _emit(EventType.SESSION_UPDATED, session=session, student_ids=concerned, teacher_id=previous_teacher_id)
    return session


@transaction.atomic
def session_cancel(*, viewer: Viewer, session: Session, reason: str = "") -> Session:
    """Cancel a scheduled session. The state is checked again under a row lock, so two concurrent
    transitions cannot both win."""
    session = _lock(session)
    _require_may_manage(viewer=viewer, session=session)
    if session.status != SessionStatus.SCHEDULED:
        raise Conflict(SESSION_NOT_CANCELLABLE[session.status])
    session.status = SessionStatus.CANCELLED
    session.cancelled_at = timezone.now()
    session.cancellation_reason = reason
    session.version += 1
    session.save(update_fields=["status", "cancelled_at", "cancellation_reason", "version", "updated_at"])
    activity_record(
        actor=viewer.user,
        verb="session.cancelled",
        object_type="session",
        object_id=session.pk,
        school_id=session.school_id,
        teacher_id=session.teacher_id,
        data={"reason": reason},
    )
    _emit(
        EventType.SESSION_CANCELLED,
        session=session,
        student_ids=SessionStudent.objects.filter(session=session).values_list("student_id", flat=True),
    )
    return session


def _emit(type: EventType, *, session: Session, student_ids: Iterable[int], teacher_id: int | None = None) -> None:
    student_ids = sorted(set(student_ids))
    event_emit(
        type=type,
        school_id=session.school_id,
        teacher_id=teacher_id or session.teacher_id,
        student_ids=student_ids,
        data={
            "session": {
                "id": session.pk,
                "status": session.status,
                "starts_at": session.starts_at,
                "ends_at": session.ends_at,
                "teacher_id": session.teacher_id,
                "subject_id": session.subject_id,
                "student_ids": student_ids,
                "version": session.version,
            }
        },
    )


def _lock(session: Session) -> Session:
    """The session's current row, locked until the transaction ends (on PostgreSQL; SQLite serialises
    writers anyway)."""
    return Session.objects.select_for_update().get(pk=session.pk)


def _require_may_book(*, viewer: Viewer, school_id: int, teacher_id: int) -> None:
    if school_id not in viewer.roles:
        raise NotFound(UNKNOWN_SCHOOL, fields={"school_id": [UNKNOWN_SCHOOL]})
    if viewer.can(Action.SESSIONS_MANAGE_ALL, school_id):
        return
    if not viewer.can(Action.SESSIONS_MANAGE_OWN, school_id):
        raise Forbidden(SESSION_BOOKING_FORBIDDEN)
    if teacher_id != viewer.teacher_id:
        raise Forbidden(TEACHER_BOOKS_OWN_ONLY)


def _require_may_manage(*, viewer: Viewer, session: Session) -> None:
    if not session_may_manage(viewer=viewer, session=session):
        raise Forbidden(SESSION_MANAGE_FORBIDDEN)


def _reach_of(viewer: Viewer, school_id: int) -> int | None:
    """Whose assigned students a booking by this viewer may name: ``None`` (any) for the school's staff,
    the teacher's own id for a teacher."""
    return None if viewer.is_staff_of(school_id) else viewer.teacher_id


def _validate_parties(
    *,
    school_id: int,
    teacher_id: int | None,
    subject_id: int | None,
    student_ids: Sequence[int],
    assigned_to: int | None = None,
) -> None:
    """Everyone named must be active in the school, and, when ``assigned_to`` names a teacher, every student
    assigned to that teacher. An id from another school, or of a student the teacher may not see, is
    answered exactly like an id that does not exist."""
    errors: dict[str, list[str]] = {}
    if teacher_id is not None and not _is_active_teacher(school_id=school_id, teacher_id=teacher_id):
        errors["teacher_id"] = [UNKNOWN_TEACHER]
    if subject_id is not None and not Subject.objects.filter(pk=subject_id, school_id=school_id).exists():
        errors["subject_id"] = [UNKNOWN_SUBJECT]
    if student_ids:
        unknown = _unknown_students(school_id=school_id, student_ids=student_ids, assigned_to=assigned_to)
        if unknown:
            errors["student_ids"] = [UNKNOWN_STUDENTS.format(ids=", ".join(map(str, unknown)))]
    if errors:
        raise ValidationFailed(INVALID_FIELDS, fields=errors)


def _is_active_teacher(*, school_id: int, teacher_id: int) -> bool:
    teaching = Membership.objects.filter(user_id=OuterRef("pk"), school_id=school_id, role=Role.TEACHER, is_active=True)
    return Teacher.objects.filter(pk=teacher_id, user__is_active=True).filter(Exists(teaching)).exists()


def _unknown_students(*, school_id: int, student_ids: Sequence[int], assigned_to: int | None) -> list[int]:
    enrolled = Membership.objects.filter(
        user_id=OuterRef("user_id"), school_id=school_id, role=Role.STUDENT, is_active=True
    )
    students = Student.objects.filter(pk__in=student_ids, school_id=school_id, is_active=True).filter(Exists(enrolled))
    if assigned_to is not None:
        students = students.filter(teacher_assignment(assigned_to))
    active = set(students.values_list("pk", flat=True))
    return [pk for pk in student_ids if pk not in active]
