"""Reads of schools, memberships and subjects, always scoped to the viewer first."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet

from chalkboard.common.errors import NotFound, ValidationFailed
from chalkboard.schools.access import STAFF, Action, Viewer
from chalkboard.schools.models import Membership, Role, School, Skill, Subject

UNKNOWN_SCHOOL = "No such school."


def school_list(*, viewer: Viewer) -> QuerySet[School]:
    """The schools the viewer holds any active role in. Their roles there are ``viewer.roles_in(school.pk)``."""
    return School.objects.filter(pk__in=viewer.school_ids).order_by("id")


def school_get_for_viewer(*, viewer: Viewer, school_id: int) -> School:
    """The school, if the viewer belongs to it; otherwise 404, the same as for an unknown id."""
    school = school_list(viewer=viewer).filter(pk=school_id).first()
    if school is None:
        raise NotFound()
    return school


def school_get_for_staff(*, viewer: Viewer, school_id: int) -> School:
    """The school, if the viewer runs it (owner or admin); otherwise 404, for its other members too: what
    only its staff read is not there for anyone else."""
    school = School.objects.filter(pk__in=viewer.schools_where(*STAFF), pk=school_id).first()
    if school is None:
        raise NotFound()
    return school


def school_get_for_action(*, viewer: Viewer, school_id: int, action: Action) -> School:
    """The school: 404 if the viewer does not belong to it, 403 if they may not do ``action`` there."""
    school = school_get_for_viewer(viewer=viewer, school_id=school_id)
    viewer.require(action, school.pk)
    return school


def school_for_action(*, viewer: Viewer, school_id: int, action: Action, field: str = "school_id") -> School:
    """The school a write names in its input: unknown or invisible is bad input (400 on ``field``), a school
    the viewer belongs to without the right to ``action`` there is 403."""
    school = School.objects.filter(pk=school_id).first() if school_id in viewer.roles else None
    if school is None:
        raise ValidationFailed(UNKNOWN_SCHOOL, fields={field: [UNKNOWN_SCHOOL]})
    viewer.require(action, school_id)
    return school


def membership_list(*, viewer: Viewer, school: School) -> QuerySet[Membership]:
    """Every membership of the school, active or not. Only its staff may read them."""
    viewer.require(Action.MEMBERS_MANAGE, school.pk)
    return Membership.objects.filter(school=school).select_related("user").order_by("id")


def membership_get_for_viewer(*, viewer: Viewer, school: School, membership_id: int) -> Membership:
    membership = membership_list(viewer=viewer, school=school).filter(pk=membership_id).first()
    if membership is None:
        raise NotFound()
    return membership


def subject_list(*, viewer: Viewer) -> QuerySet[Subject]:
    """The subjects of every school the viewer belongs to, with their skills, in a fixed number of queries."""
    return (
        Subject.objects.filter(school_id__in=viewer.school_ids)
        .prefetch_related(Prefetch("skills", queryset=Skill.objects.order_by("name", "id")))
        .order_by("school_id", "name", "id")
    )


def subject_get_for_viewer(*, viewer: Viewer, subject_id: int) -> Subject:
    subject = subject_list(viewer=viewer).filter(pk=subject_id).first()
    if subject is None:
        raise NotFound()
    return subject


def subject_get_for_action(*, viewer: Viewer, subject_id: int, action: Action) -> Subject:
    """The subject: 404 if the viewer may not see it, 403 if they may not do ``action`` in its school."""
    subject = subject_get_for_viewer(viewer=viewer, subject_id=subject_id)
    viewer.require(action, subject.school_id)
    return subject


def school_ids_where_teaching(*, teacher_id: int, among: Iterable[int]) -> list[int]:
    """The schools of ``among`` where the teacher teaches now, by id."""
    return list(
        Membership.objects.filter(user_id=teacher_id, role=Role.TEACHER, is_active=True, school_id__in=among)
        .order_by("school_id")
        .values_list("school_id", flat=True)
    )
