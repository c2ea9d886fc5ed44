"""Reads of sessions and their notes, always scoped to the viewer first."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from chalkboard.common.errors import NotFound
from chalkboard.scheduling.models import NoteVisibility, Session, SessionNote, SessionStudent
from chalkboard.schools.access import STAFF, Viewer
from chalkboard.schools.models import Role


def session_visibility(viewer: Viewer) -> Q:
    """All sessions of the schools the viewer runs; their own as a teacher; a student's or a guardian's
    children's sessions. Nothing from a school the viewer has no active membership in."""
    visible = Q(school_id__in=viewer.schools_where(*STAFF))
    teaching = viewer.schools_where(Role.TEACHER)
    if teaching:
        visible |= Q(school_id__in=teaching, teacher_id=viewer.teacher_id)
    if viewer.own_and_ward_student_ids:
        attending = SessionStudent.objects.filter(
            session_id=OuterRef("pk"), student_id__in=viewer.own_and_ward_student_ids
        )
        visible |= Q(Exists(attending))
    return visible


def session_list(*, viewer: Viewer) -> QuerySet[Session]:
    """Visible sessions with what a list shows of them, in a fixed number of queries."""
    return (
        Session.objects.filter(session_visibility(viewer))
        .select_related("subject", "teacher__user", "school")
        .prefetch_related(
            Prefetch("attendees", queryset=SessionStudent.objects.select_related("student__user").order_by("id"))
        )
        .order_by("starts_at", "id")
    )


def session_get_for_viewer(*, viewer: Viewer, session_id: int) -> Session:
    """The session, if the viewer may see it; otherwise 404, the same as for an unknown id."""
    session = session_list(viewer=viewer).filter(pk=session_id).first()
    if session is None:
        raise NotFound()
    return session


def note_visibilities_for(*, viewer: Viewer, session: Session) -> list[str]:
    """Which note levels the viewer may read on this session."""
    if viewer.is_staff_of(session.school_id):
        return [NoteVisibility.SHARED, NoteVisibility.STAFF, NoteVisibility.ADMIN]
    if viewer.teaches_in(session.school_id) and session.teacher_id == viewer.teacher_id:
        return [NoteVisibility.SHARED, NoteVisibility.STAFF]
    return [NoteVisibility.SHARED]


def session_notes(*, viewer: Viewer, session: Session) -> QuerySet[SessionNote]:
    return (
        SessionNote.objects.filter(
            session=session, visibility__in=note_visibilities_for(viewer=viewer, session=session)
        )
        .select_related("author")
        .order_by("created_at", "id")
    )


def session_may_manage(*, viewer: Viewer, session: Session) -> bool:
    """Complete, amend, reschedule or cancel: the school's staff, or the session's own teacher."""
    if viewer.is_staff_of(session.school_id):
        return True
    return viewer.teaches_in(session.school_id) and session.teacher_id == viewer.teacher_id
