"""Writes to teachers (profiles, subjects, rates), students and guardians.

Each of these is a person with a role in a school: the services keep the user, the membership and the
profile in step, and check that every id they are given belongs to the school they act in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from chalkboard.accounts.models import User
from chalkboard.common.errors import Conflict, ValidationFailed
from chalkboard.people.models import GuardianLink, Student, Teacher, TeacherRate
from chalkboard.schools.models import Membership, Role, School, Subject
from chalkboard.schools.services import membership_deactivate, membership_ensure, school_audit, user_for_email

TEACHER_ALREADY_ACTIVE = "This person already teaches in this school."
STUDENT_ALREADY_ACTIVE = "This person is already a student of this school."
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


@transaction.atomic
def teacher_create(
    *,
    school: School,
    by: User,
    email: str,
    full_name: str,
    default_hourly_rate: Decimal,
    group_hourly_rate: Decimal | None = None,
    bio: str | None = None,
    subject_ids: Sequence[int] = (),
    rates: Sequence[RateInput] = (),
) -> Teacher:
    """A teacher in the school: the user (created when the email is new), the teacher role, the profile
    (shared by every school they teach in), their subjects here and their rates here.

    Rehiring someone who used to teach here reactivates them; someone who teaches here already is a 409."""
    subjects = _school_subjects(school=school, subject_ids=subject_ids, field="subject_ids")
    _check_rates(school=school, rates=rates)
    user = user_for_email(email=email, full_name=full_name)
    _, changed = membership_ensure(user=user, school=school, role=Role.TEACHER)
    if not changed:
        raise Conflict(TEACHER_ALREADY_ACTIVE)
    teacher, created = Teacher.objects.get_or_create(user=user, defaults={"bio": bio or ""})
    if not created and bio is not None:
        teacher.bio = bio
        teacher.save(update_fields=["bio", "updated_at"])
    teacher.subjects.add(*subjects)
    _rate_set(teacher=teacher, school=school, is_group=False, hourly_rate=default_hourly_rate)
    if group_hourly_rate is not None:
        _rate_set(teacher=teacher, school=school, is_group=True, hourly_rate=group_hourly_rate)
    if rates:
        _subject_rates_replace(teacher=teacher, school=school, rates=rates)
    school_audit(
        actor=by,
        verb="teacher.created",
        object_type="teacher",
        object_id=teacher.pk,
        school_id=school.pk,
        teacher_id=teacher.pk,
    )
    return teacher


@transaction.atomic
def teacher_update(
    *,
    teacher: Teacher,
    by: User,
    school: School | None = None,
    bio: str | None = None,
    subject_ids: Sequence[int] | None = None,
    default_hourly_rate: Decimal | None = None,
    group_hourly_rate: Decimal | None = None,
    clear_group_rate: bool = False,
    rates: Sequence[RateInput] | None = None,
) -> Teacher:
    """Change a teacher's profile and, in one ``school``, their subjects and rates.

    ``None`` leaves a field as it is. ``subject_ids`` replaces the teacher's subjects of that school (those of
    other schools stay); ``rates`` replaces their per-subject rates there; ``clear_group_rate`` removes the
    group rate. Who may change what is for the caller to decide: this only needs ``school`` for the
    school-level fields, and checks that the teacher teaches there."""
    changed: list[str] = []
    if bio is not None and bio != teacher.bio:
        teacher.bio = bio
        teacher.save(update_fields=["bio", "updated_at"])
        changed.append("bio")
    school_level = {
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
            raise _invalid("school_id", "Name the school whose subjects or rates change.")
        _teaching_membership(teacher=teacher, school=school)
        _teacher_school_update(
            teacher=teacher,
            school=school,
            subject_ids=subject_ids,
            default_hourly_rate=default_hourly_rate,
            group_hourly_rate=group_hourly_rate,
            clear_group_rate=clear_group_rate,
            rates=rates,
        )
        changed.extend(sorted(set(school_fields)))
    if changed:
        school_audit(
            actor=by,
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
    subject_ids: Sequence[int] | None,
    default_hourly_rate: Decimal | None,
    group_hourly_rate: Decimal | None,
    clear_group_rate: bool,
    rates: Sequence[RateInput] | None,
) -> None:
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
def teacher_deactivate(*, teacher: Teacher, school: School, by: User) -> None:
    """The teacher stops teaching in this school. Their profile, history and rates stay."""
    membership = _teaching_membership(teacher=teacher, school=school)
    membership_deactivate(membership=membership)
    school_audit(
        actor=by,
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


@transaction.atomic
def student_create(
    *,
    school: School,
    by: User,
    email: str,
    full_name: str,
    grade: str = "",
    notes: str = "",
    guardian_ids: Sequence[int] = (),
) -> Student:
    """A student of the school: the user (created when the email is new), the student role and record, and
    links to guardians of the school. A former student comes back; a current one is a 409."""
    guardians = _school_guardian_ids(school=school, guardian_ids=guardian_ids)
    user = user_for_email(email=email, full_name=full_name)
    _, membership_changed = membership_ensure(user=user, school=school, role=Role.STUDENT)
    student, created = Student.objects.get_or_create(
        school=school, user=user, defaults={"grade": grade, "notes": notes}
    )
    if not created:
        if student.is_active and not membership_changed:
            raise Conflict(STUDENT_ALREADY_ACTIVE)
        student.is_active = True
        student.grade = grade
        student.notes = notes
        student.save(update_fields=["is_active", "grade", "notes", "updated_at"])
    if guardians:
        present = set(student.guardian_links.values_list("guardian_id", flat=True))
        _guardians_set(student=student, guardian_ids=guardians | present)
    school_audit(actor=by, verb="student.created", object_type="student", object_id=student.pk, school_id=school.pk)
    return student


@transaction.atomic
def student_update(
    *,
    student: Student,
    by: User,
    grade: str | None = None,
    notes: str | None = None,
    guardian_ids: Sequence[int] | None = None,
) -> Student:
    """Change a student's record. ``guardian_ids`` replaces their guardians (each a guardian of the school)."""
    changes = {
        field: value
        for field, value in {"grade": grade, "notes": notes}.items()
        if value is not None and getattr(student, field) != value
    }
    for field, value in changes.items():
        setattr(student, field, value)
    if changes:
        student.save(update_fields=[*changes, "updated_at"])
    changed = list(changes)
    if guardian_ids is not None:
        _guardians_set(
            student=student, guardian_ids=_school_guardian_ids(school=student.school, guardian_ids=guardian_ids)
        )
        changed.append("guardian_ids")
    if changed:
        school_audit(
            actor=by,
            verb="student.updated",
            object_type="student",
            object_id=student.pk,
            school_id=student.school_id,
            data={"fields": changed},
        )
    return student


@transaction.atomic
def student_deactivate(*, student: Student, by: User) -> Student:
    """The student leaves the school: their record and their student role go inactive; their history stays."""
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
            actor=by,
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


@transaction.atomic
def guardian_create(
    *,
    school: School,
    by: User,
    email: str,
    full_name: str,
    student_ids: Sequence[int],
    relationship: str | None = None,
) -> User:
    """A guardian of some of the school's students: the user (created when the email is new), the guardian
    role, and links to those students (added to any they have already)."""
    students = _school_students(school=school, student_ids=student_ids)
    user = user_for_email(email=email, full_name=full_name)
    membership_ensure(user=user, school=school, role=Role.GUARDIAN)
    current = Student.objects.filter(guardian_links__guardian=user, school=school)
    _links_set(guardian=user, school=school, students=[*current, *students], relationship=relationship)
    school_audit(
        actor=by,
        verb="guardian.created",
        object_type="guardian",
        object_id=user.pk,
        school_id=school.pk,
        data={"student_ids": sorted(s.pk for s in students)},
    )
    return user


def _guardian_membership(*, guardian: User, school: School) -> Membership:
    membership = Membership.objects.filter(user=guardian, school=school, role=Role.GUARDIAN, is_active=True).first()
    if membership is None:
        raise _invalid("school_id", NOT_GUARDIAN_HERE)
    return membership


@transaction.atomic
def guardian_update(
    *, guardian: User, school: School, by: User, student_ids: Sequence[int], relationship: str | None = None
) -> User:
    """The guardian's students in this school become exactly ``student_ids``."""
    _guardian_membership(guardian=guardian, school=school)
    students = _school_students(school=school, student_ids=student_ids)
    _links_set(guardian=guardian, school=school, students=students, relationship=relationship)
    school_audit(
        actor=by,
        verb="guardian.updated",
        object_type="guardian",
        object_id=guardian.pk,
        school_id=school.pk,
        data={"student_ids": sorted(s.pk for s in students)},
    )
    return guardian


@transaction.atomic
def guardian_remove(*, guardian: User, school: School, by: User) -> None:
    """The guardian is no longer one in this school: unlinked from its students, guardian role inactive."""
    membership = _guardian_membership(guardian=guardian, school=school)
    membership_deactivate(membership=membership)
    school_audit(actor=by, verb="guardian.removed", object_type="guardian", object_id=guardian.pk, school_id=school.pk)
