"""Reads of teachers, students and guardians, always scoped to the viewer first."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from chalkboard.common.errors import NotFound
from chalkboard.people.models import Student, Teacher
from chalkboard.scheduling.models import SessionStudent
from chalkboard.schools.access import STAFF, Viewer
from chalkboard.schools.models import Membership, Role


def taught_by(teacher_id: int) -> Exists:
    """For a ``Student`` queryset: the student has a session with this teacher in the student's school."""
    return Exists(
        SessionStudent.objects.filter(
            student_id=OuterRef("pk"), session__teacher_id=teacher_id, session__school_id=OuterRef("school_id")
        )
    )


def student_visibility(viewer: Viewer) -> Q:
    """The students the viewer may see: all of their schools' for staff, their own pupils for a teacher,
    themselves for a student, their children for a guardian. Empty for anyone else."""
    visible = Q(school_id__in=viewer.schools_where(*STAFF))
    teaching = viewer.schools_where(Role.TEACHER)
    if teaching:
        visible |= Q(school_id__in=teaching) & Q(taught_by(viewer.teacher_id))
    if viewer.own_and_ward_student_ids:
        visible |= Q(pk__in=viewer.own_and_ward_student_ids)
    return visible


def student_list(*, viewer: Viewer) -> QuerySet[Student]:
    return Student.objects.filter(student_visibility(viewer)).select_related("user", "school").order_by("id")


def student_get_for_viewer(*, viewer: Viewer, student_id: int) -> Student:
    """The student, if the viewer may see them; otherwise 404, the same as for an unknown id."""
    student = student_list(viewer=viewer).filter(pk=student_id).first()
    if student is None:
        raise NotFound()
    return student


def teacher_visibility(viewer: Viewer) -> Q:
    """Teachers the viewer may see: every active teacher of the schools they run, and themselves."""
    staff_schools = viewer.schools_where(*STAFF)
    teaching_there = Membership.objects.filter(
        user_id=OuterRef("user_id"), role=Role.TEACHER, is_active=True, school_id__in=staff_schools
    )
    visible = Q(Exists(teaching_there)) if staff_schools else Q(pk__in=[])
    if viewer.schools_where(Role.TEACHER):
        visible |= Q(pk=viewer.teacher_id)
    return visible


def teacher_list(*, viewer: Viewer) -> QuerySet[Teacher]:
    return Teacher.objects.filter(teacher_visibility(viewer)).select_related("user").order_by("pk")


def teacher_get_for_viewer(*, viewer: Viewer, teacher_id: int) -> Teacher:
    teacher = teacher_list(viewer=viewer).filter(pk=teacher_id).first()
    if teacher is None:
        raise NotFound()
    return teacher


def teacher_school_ids(*, teacher_id: int) -> list[int]:
    """The schools a teacher actively teaches in, by id."""
    return list(
        Membership.objects.filter(user_id=teacher_id, role=Role.TEACHER, is_active=True)
        .order_by("school_id")
        .values_list("school_id", flat=True)
    )
