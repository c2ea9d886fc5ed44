"""Writes to teachers (profiles, subjects, rates), students and guardians.

Each of these is a person with a role in a school: the services keep the user, the membership and the
profile in step, and check that every id they are given belongs to the school they act in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from chalkboard.accounts.models import User
from chalkboard.common.errors import ValidationFailed
from chalkboard.common.services import model_update
from chalkboard.people.models import GuardianLink, SchoolTeacher, Student, Teacher, TeacherRate, TeachingAssignment
from chalkboard.people.selectors import teacher_record_action
from chalkboard.schools.access import Action, Viewer
from chalkboard.schools.models import Membership, Role, School, Subject
from chalkboard.schools.services import membership_deactivate, membership_ensure, school_audit

SCHOOL_NOT_NAMED = "Name the school whose record of the teacher changes."
NOT_TEACHING_HERE = "The teacher does not teach in this school."
NOT_GUARDIAN_HERE = "This person is not a guardian in this school."
NOT_SUBJECTS_OF_SCHOOL = "Not subjects of this school: {ids}."
NOT_STUDENTS_OF_SCHOOL = "Not students of this school: {ids}."
NOT_GUARDIANS_OF_SCHOOL = "Not guardians in this school: {ids}."
DUPLICATE_RATE = "Each subject may have one rate for one-to-one and one for group sessions."


@dataclass(frozen=True)
class RateInput:
    """A teacher's hourly rate for one subject in one school, for one-to-one or for group sessions."""

    subject_id: int
    is_group: bool
    hourly_rate: Decimal


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def _of_school(queryset_ids: Iterable[int], requested: Iterable[int], *, field: str, message: str) -> None:
    missing = sorted(set(requested) - set(queryset_ids))
    if missing:
        raise _invalid(field, message.format(ids=", ".join(map(str, missing))))


def _school_subjects(*, school: School, subject_ids: Iterable[int], field: str) -> list[Subject]:
    wanted = set(subject_ids)
    subjects = list(Subject.objects.filter(school=school, pk__in=wanted)) if wanted else []
    _of_school((s.pk for s in subjects), wanted, field=field, message=NOT_SUBJECTS_OF_SCHOOL)
    return subjects


def _school_students(*, school: School, student_ids: Iterable[int], field: str = "student_ids") -> list[Student]:
    wanted = set(student_ids)
    students = list(Student.objects.filter(school=school, pk__in=wanted)) if wanted else []
    _of_school((s.pk for s in students), wanted, field=field, message=NOT_STUDENTS_OF_SCHOOL)
    return students


def _school_guardian_ids(*, school: School, guardian_ids: Iterable[int]) -> set[int]:
    wanted = set(guardian_ids)
    found = (
        set(
            Membership.objects.filter(
                school=school, role=Role.GUARDIAN, is_active=True, user_id__in=wanted
            ).values_list("user_id", flat=True)
        )
        if wanted
        else set()
    )
    _of_school(found, wanted, field="guardian_ids", message=NOT_GUARDIANS_OF_SCHOOL)
    return found


def _check_rates(*, school: School, rates: Sequence[RateInput]) -> None:
    keys = [(rate.subject_id, rate.is_group) for rate in rates]
    if len(set(keys)) != len(keys):
        raise _invalid("rates", DUPLICATE_RATE)
    _school_subjects(school=school, subject_ids=(rate.subject_id for rate in rates), field="rates")


def _rate_set(*, teacher: Teacher, school: School, is_group: bool, hourly_rate: Decimal) -> None:
    TeacherRate.objects.update_or_create(
        teacher=teacher, school=school, subject=None, is_group=is_group, defaults={"hourly_rate": hourly_rate}
    )


def _subject_rates_replace(*, teacher: Teacher, school: School, rates: Sequence[RateInput]) -> None:
    TeacherRate.objects.filter(teacher=teacher, school=school, subject__isnull=False).delete()
    TeacherRate.objects.bulk_create(
        TeacherRate(
            teacher=teacher,
            school=school,
            subject_id=rate.subject_id,
            is_group=rate.is_group,
            hourly_rate=rate.hourly_rate,
        )
        for rate in rates
    )


def _teaching_membership(*, teacher: Teacher, school: School) -> Membership:
    membership = Membership.objects.filter(user_id=teacher.pk, school=school, role=Role.TEACHER, is_active=True).first()
    if membership is None:
        raise _invalid("school_id", NOT_TEACHING_HERE)
    return membership


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def teacher_invitation_details(
    *,
    school: School,
    default_hourly_rate: Decimal | None = None,
    group_hourly_rate: Decimal | None = None,
    bio: str | None = None,
    subject_ids: Sequence[int] = (),
    rates: Sequence[RateInput] = (),
) -> dict[str, Any]:
    """What the school will record about a teacher it invites, checked now (every id must be the school's)
    and kept on the invitation until the person accepts. Nothing here is about the person."""
    _school_subjects(school=school, subject_ids=subject_ids, field="subject_ids")
    _check_rates(school=school, rates=rates)
    return {
        "bio": bio,
        "subject_ids": sorted(set(subject_ids)),
        "default_hourly_rate": _money(default_hourly_rate),
        "group_hourly_rate": _money(group_hourly_rate),
        "rates": [
            {"subject_id": rate.subject_id, "is_group": rate.is_group, "hourly_rate": str(rate.hourly_rate)}
            for rate in rates
        ],
    }


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def teacher_join(*, school: School, user: User, details: Mapping[str, Any]) -> Teacher:
    """The person teaches in the school from now on, with what the school said of them when it invited them
    (``teacher_invitation_details``; empty when invited as a bare member). Ids that left the school since
    are dropped. For the acceptance of an invitation only: it records nothing by itself."""
    membership_ensure(user=user, school=school, role=Role.TEACHER)
    teacher, _ = Teacher.objects.get_or_create(user=user)
    record, _ = SchoolTeacher.objects.get_or_create(teacher=teacher, school=school)
    if details.get("bio") is not None and details["bio"] != record.bio:
        record.bio = details["bio"]
        record.save(update_fields=["bio", "updated_at"])
    subjects = Subject.objects.filter(school=school, pk__in=details.get("subject_ids") or [])
    teacher.subjects.add(*subjects)
    for is_group, key in ((False, "default_hourly_rate"), (True, "group_hourly_rate")):
        rate = _decimal(details.get(key))
        if rate is not None:
            _rate_set(teacher=teacher, school=school, is_group=is_group, hourly_rate=rate)
    rates = details.get("rates") or []
    if rates:
        named = [rate["subject_id"] for rate in rates]
        known = set(Subject.objects.filter(school=school, pk__in=named).values_list("pk", flat=True))
        _subject_rates_replace(
            teacher=teacher,
            school=school,
            rates=[
                RateInput(
                    subject_id=rate["subject_id"], is_group=rate["is_group"], hourly_rate=Decimal(rate["hourly_rate"])
                )
                for rate in rates
                if rate["subject_id"] in known
            ],
        )
    return teacher


@transaction.atomic
def teacher_update(
    *,
    teacher: Teacher,
    viewer: Viewer,
    school: School | None = None,
    bio: str | None = None,
    subject_ids: Sequence[int] | None = None,
    default_hourly_rate: Decimal | None = None,
    group_hourly_rate: Decimal | None = None,
    clear_group_rate: bool = False,
    rates: Sequence[RateInput] | None = None,
) -> Teacher:
    """Change what one ``school`` records about a teacher: their bio there, their subjects and their rates.

    ``None`` leaves a field as it is. ``subject_ids`` replaces the teacher's subjects of that school (those of
    other schools stay); ``rates`` replaces their per-subject rates there; ``clear_group_rate`` removes the
    group rate. Nothing of another school's record changes. The school's staff change all of it; the
    teacher themselves only their bio, in a school they teach in."""
    staff_fields = clear_group_rate or any(
        value is not None for value in (subject_ids, default_hourly_rate, group_hourly_rate, rates)
    )
    if school is not None:
        viewer.require(teacher_record_action(viewer=viewer, teacher=teacher, staff_fields=staff_fields), school.pk)
    changed: list[str] = []
    if bio is not None and school is not None:
        current = SchoolTeacher.objects.filter(teacher=teacher, school=school).values_list("bio", flat=True).first()
        bio = None if bio == (current or "") else bio
    school_level = {
        "bio": bio,
        "subject_ids": subject_ids,
        "default_hourly_rate": default_hourly_rate,
        "group_hourly_rate": group_hourly_rate,
        "rates": rates,
    }
    school_fields = [key for key, value in school_level.items() if value is not None]
    if clear_group_rate:
        school_fields.append("group_hourly_rate")
    if school_fields:
        if school is None:
            raise _invalid("school_id", SCHOOL_NOT_NAMED)
        _teaching_membership(teacher=teacher, school=school)
        _teacher_school_update(
            teacher=teacher,
            school=school,
            bio=bio,
            subject_ids=subject_ids,
            default_hourly_rate=default_hourly_rate,
            group_hourly_rate=group_hourly_rate,
            clear_group_rate=clear_group_rate,
            rates=rates,
        )
        changed.extend(sorted(set(school_fields)))
    if changed:
        school_audit(
            actor=viewer.user,
            verb="teacher.updated",
            object_type="teacher",
            object_id=teacher.pk,
            school_id=school.pk if school is not None else None,
            teacher_id=teacher.pk,
            data={"fields": changed},
        )
    return teacher


def _teacher_school_update(
    *,
    teacher: Teacher,
    school: School,
    bio: str | None,
    subject_ids: Sequence[int] | None,
    default_hourly_rate: Decimal | None,
    group_hourly_rate: Decimal | None,
    clear_group_rate: bool,
    rates: Sequence[RateInput] | None,
) -> None:
    if bio is not None:
        SchoolTeacher.objects.update_or_create(teacher=teacher, school=school, defaults={"bio": bio})
    if subject_ids is not None:
        subjects = _school_subjects(school=school, subject_ids=subject_ids, field="subject_ids")
        teacher.subjects.remove(*teacher.subjects.filter(school=school).exclude(pk__in=subject_ids))
        teacher.subjects.add(*subjects)
    if rates is not None:
        _check_rates(school=school, rates=rates)
        _subject_rates_replace(teacher=teacher, school=school, rates=rates)
    if default_hourly_rate is not None:
        _rate_set(teacher=teacher, school=school, is_group=False, hourly_rate=default_hourly_rate)
    if group_hourly_rate is not None:
        _rate_set(teacher=teacher, school=school, is_group=True, hourly_rate=group_hourly_rate)
    elif clear_group_rate:
        TeacherRate.objects.filter(teacher=teacher, school=school, subject__isnull=True, is_group=True).delete()


@transaction.atomic
def teacher_deactivate(*, teacher: Teacher, school: School, viewer: Viewer) -> None:
    """The teacher stops teaching in this school. Their profile, history and rates stay."""
    viewer.require(Action.PEOPLE_MANAGE, school.pk)
    membership = _teaching_membership(teacher=teacher, school=school)
    membership_deactivate(membership=membership)
    school_audit(
        actor=viewer.user,
        verb="teacher.deactivated",
        object_type="teacher",
        object_id=teacher.pk,
        school_id=school.pk,
        teacher_id=teacher.pk,
    )


def _guardians_set(*, student: Student, guardian_ids: set[int]) -> None:
    student.guardian_links.exclude(guardian_id__in=guardian_ids).delete()
    present = set(student.guardian_links.values_list("guardian_id", flat=True))
    GuardianLink.objects.bulk_create(
        GuardianLink(guardian_id=guardian_id, student=student) for guardian_id in sorted(guardian_ids - present)
    )


def student_invitation_details(
    *, school: School, grade: str = "", notes: str = "", guardian_ids: Sequence[int] = ()
) -> dict[str, Any]:
    """What the school will record about a student it invites, checked now and kept on the invitation."""
    guardians = _school_guardian_ids(school=school, guardian_ids=guardian_ids)
    return {"grade": grade, "notes": notes, "guardian_ids": sorted(guardians)}


def student_join(*, school: School, user: User, details: Mapping[str, Any]) -> Student:
    """The person is a student of the school from now on: their role and record (a former student's comes
    back), with the grade, notes and guardians the school gave when it invited them (guardians who left the
    school since are dropped). For the acceptance of an invitation only."""
    membership_ensure(user=user, school=school, role=Role.STUDENT)
    student, _ = Student.objects.get_or_create(school=school, user=user)
    model_update(
        instance=student, data={"grade": details.get("grade"), "notes": details.get("notes"), "is_active": True}
    )
    guardian_ids = details.get("guardian_ids") or []
    if guardian_ids:
        still_here = set(
            Membership.objects.filter(
                school=school, role=Role.GUARDIAN, is_active=True, user_id__in=guardian_ids
            ).values_list("user_id", flat=True)
        )
        present = set(student.guardian_links.values_list("guardian_id", flat=True))
        _guardians_set(student=student, guardian_ids=still_here | present)
    return student


@transaction.atomic
def student_update(
    *,
    student: Student,
    viewer: Viewer,
    grade: str | None = None,
    notes: str | None = None,
    guardian_ids: Sequence[int] | None = None,
) -> Student:
    """Change a student's record. ``guardian_ids`` replaces their guardians (each a guardian of the school)."""
    viewer.require(Action.PEOPLE_MANAGE, student.school_id)
    changed = list(model_update(instance=student, data={"grade": grade, "notes": notes}))
    if guardian_ids is not None:
        _guardians_set(
            student=student, guardian_ids=_school_guardian_ids(school=student.school, guardian_ids=guardian_ids)
        )
        changed.append("guardian_ids")
    if changed:
        school_audit(
            actor=viewer.user,
            verb="student.updated",
            object_type="student",
            object_id=student.pk,
            school_id=student.school_id,
            data={"fields": changed},
        )
    return student


@transaction.atomic
def student_deactivate(*, student: Student, viewer: Viewer) -> Student:
    """The student leaves the school: their record and their student role go inactive; their history stays."""
    viewer.require(Action.PEOPLE_MANAGE, student.school_id)
    was_active = student.is_active
    membership = Membership.objects.filter(
        user_id=student.user_id, school_id=student.school_id, role=Role.STUDENT, is_active=True
    ).first()
    if membership is not None:
        membership_deactivate(membership=membership)
    student.is_active = False
    if was_active:
        student.save(update_fields=["is_active", "updated_at"])
    if was_active or membership is not None:
        school_audit(
            actor=viewer.user,
            verb="student.deactivated",
            object_type="student",
            object_id=student.pk,
            school_id=student.school_id,
        )
    return student


def _links_set(*, guardian: User, school: School, students: list[Student], relationship: str | None) -> None:
    """The guardian's links to the school's students become exactly ``students``."""
    GuardianLink.objects.filter(guardian=guardian, student__school=school).exclude(
        student__in=[s.pk for s in students]
    ).delete()
    links = {link.student_id: link for link in GuardianLink.objects.filter(guardian=guardian, student__school=school)}
    if relationship is not None:
        GuardianLink.objects.filter(pk__in=[link.pk for link in links.values()]).exclude(
            relationship=relationship
        ).update(relationship=relationship)
    GuardianLink.objects.bulk_create(
        GuardianLink(guardian=guardian, student=student, relationship=relationship or "")
        for student in students
        if student.pk not in links
    )


def guardian_invitation_details(
    *, school: School, student_ids: Sequence[int], relationship: str | None = None
) -> dict[str, Any]:
    """The students of the school an invited guardian will be linked to, checked now and kept on the invitation."""
    students = _school_students(school=school, student_ids=student_ids)
    return {"student_ids": sorted(s.pk for s in students), "relationship": relationship}


def guardian_join(*, school: School, user: User, details: Mapping[str, Any]) -> User:
    """The person is a guardian in the school from now on, linked to the students the school named when it
    invited them (added to any they have already). For the acceptance of an invitation only."""
    membership_ensure(user=user, school=school, role=Role.GUARDIAN)
    students = list(Student.objects.filter(school=school, pk__in=details.get("student_ids") or []))
    current = Student.objects.filter(guardian_links__guardian=user, school=school)
    _links_set(guardian=user, school=school, students=[*current, *students], relationship=details.get("relationship"))
    return user


def _guardian_membership(*, guardian: User, school: School) -> Membership:
    membership = Membership.objects.filter(user=guardian, school=school, role=Role.GUARDIAN, is_active=True).first()
    if membership is None:
        raise _invalid("school_id", NOT_GUARDIAN_HERE)
    return membership


@transaction.atomic
def guardian_update(
    *, guardian: User, school: School, viewer: Viewer, student_ids: Sequence[int], relationship: str | None = None
) -> User:
    """The guardian's students in this school become exactly ``student_ids``."""
    viewer.require(Action.PEOPLE_MANAGE, school.pk)
    _guardian_membership(guardian=guardian, school=school)
    students = _school_students(school=school, student_ids=student_ids)
    _links_set(guardian=guardian, school=school, students=students, relationship=relationship)
    school_audit(
        actor=viewer.user,
        verb="guardian.updated",
        object_type="guardian",
        object_id=guardian.pk,
        school_id=school.pk,
        data={"student_ids": sorted(s.pk for s in students)},
    )
    return guardian


@transaction.atomic
def guardian_remove(*, guardian: User, school: School, viewer: Viewer) -> None:
    """The guardian is no longer one in this school: unlinked from its students, guardian role inactive."""
    viewer.require(Action.PEOPLE_MANAGE, school.pk)
    membership = _guardian_membership(guardian=guardian, school=school)
    membership_deactivate(membership=membership)
    school_audit(
        actor=viewer.user, verb="guardian.removed", object_type="guardian", object_id=guardian.pk, school_id=school.pk
    )


# --- Teaching assignments: which students a teacher reaches. -----------------------------------------

ASSIGNMENT_TEACHER_UNKNOWN = "Not an active teacher of the student's school."
ASSIGNMENT_STUDENT_INACTIVE = "The student has left the school."


def _is_teaching(*, teacher_id: int, school_id: int) -> bool:
    return Membership.objects.filter(
        user_id=teacher_id, school_id=school_id, role=Role.TEACHER, is_active=True
    ).exists()


@transaction.atomic
def assignment_create(*, viewer: Viewer, student: Student, teacher_id: int) -> TeachingAssignment:
    """The school's staff assign a student to a teacher of the school. Assigning twice keeps the one
    assignment."""
    viewer.require(Action.PEOPLE_MANAGE, student.school_id)
    if not _is_teaching(teacher_id=teacher_id, school_id=student.school_id):
        raise _invalid("teacher_id", ASSIGNMENT_TEACHER_UNKNOWN)
    if not student.is_active:
        raise _invalid("student_id", ASSIGNMENT_STUDENT_INACTIVE)
    assignment, created = TeachingAssignment.objects.get_or_create(
        teacher_id=teacher_id, student=student, defaults={"school_id": student.school_id, "assigned_by": viewer.user}
    )
    if created:
        school_audit(
            actor=viewer.user,
            verb="assignment.created",
            object_type="assignment",
            object_id=assignment.pk,
            school_id=student.school_id,
            teacher_id=teacher_id,
            data={"student_id": student.pk},
        )
    return assignment


@transaction.atomic
def assignment_delete(*, viewer: Viewer, assignment: TeachingAssignment) -> None:
    """The teacher no longer reaches the student. Their past sessions with them stay theirs."""
    viewer.require(Action.PEOPLE_MANAGE, assignment.school_id)
    school_audit(
        actor=viewer.user,
        verb="assignment.deleted",
        object_type="assignment",
        object_id=assignment.pk,
        school_id=assignment.school_id,
        teacher_id=assignment.teacher_id,
        data={"student_id": assignment.student_id},
    )
    assignment.delete()


def assignments_ensure(*, school_id: int, teacher_id: int, student_ids: Iterable[int], by: User) -> None:
    """Staff booked a session of this teacher with these students (already checked to be the school's
    teacher and active students): that is their decision that the teacher teaches them."""
    TeachingAssignment.objects.bulk_create(
        [
            TeachingAssignment(school_id=school_id, teacher_id=teacher_id, student_id=student_id, assigned_by=by)
            for student_id in sorted(set(student_ids))
        ],
        ignore_conflicts=True,
    )
