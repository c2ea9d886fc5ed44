"""Factories for every model. Each builds a consistent object graph: memberships match profiles."""

from __future__ import annotations

import functools
import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import factory
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from faker import Faker

from chalkboard.accounts.models import User
from chalkboard.earnings.models import EarningEntry
from chalkboard.people.models import GuardianLink, Student, Teacher, TeacherRate, TeachingAssignment
from chalkboard.scheduling.models import Session, SessionNote, SessionStudent
from chalkboard.schools.models import Membership, Role, School, Skill, Subject

PASSWORD = "correct-horse-battery-staple"

# Made-up names are unique: the isolation tests look for another school's people by name in what a reader
# gets back, and two made-up people with the same name (or one name inside another, "Ann Lee" in
# "Ann Leeds") would read as a leak. The number in brackets ends the name, so no name is inside another.
_NAMES = Faker()


@functools.cache
def _password_hash(hashers: tuple[str, ...]) -> str:
    """``PASSWORD`` hashed once per set of hashers: every made-up user signs in with it, and is written in
    one statement (hashing it again and saving it after the insert cost each user a second one)."""
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Sequence(lambda n: f"{_NAMES.first_name()} {_NAMES.last_name()} ({n})")
    password = factory.LazyFunction(lambda: _password_hash(tuple(settings.PASSWORD_HASHERS)))


class SchoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = School

    name = factory.Sequence(lambda n: f"School {n}")
    timezone = "Europe/Lisbon"
    currency = "EUR"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    school = factory.SubFactory(SchoolFactory)
    role = Role.ADMIN


class SubjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subject

    school = factory.SubFactory(SchoolFactory)
    name = factory.Sequence(lambda n: f"Subject {n}")


class SkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Skill

    subject = factory.SubFactory(SubjectFactory)
    name = factory.Sequence(lambda n: f"Skill {n}")


# A person made here is new: their membership, profile and links are created outright. A person given may
# hold some of them already: those are looked up first (get_or_create).


def member(*, school: School, role: str, user: User | None = None) -> User:
    """A user holding ``role`` in ``school`` (created when not given)."""
    if user is None:
        user = UserFactory()
        Membership.objects.create(user=user, school=school, role=role)
    else:
        Membership.objects.get_or_create(user=user, school=school, role=role)
    return user


def teacher_in(school: School, *, user: User | None = None, rate: Decimal | str = "30.00") -> Teacher:
    """A teacher (membership, profile and default rate) in ``school``."""
    if user is None:
        teacher = Teacher.objects.create(user=member(school=school, role=Role.TEACHER))
        TeacherRate.objects.create(
            teacher=teacher, school=school, subject=None, is_group=False, hourly_rate=Decimal(rate)
        )
        return teacher
    user = member(school=school, role=Role.TEACHER, user=user)
    teacher, _ = Teacher.objects.get_or_create(user=user)
    TeacherRate.objects.get_or_create(
        teacher=teacher, school=school, subject=None, is_group=False, defaults={"hourly_rate": Decimal(rate)}
    )
    return teacher


def student_in(school: School, *, user: User | None = None) -> Student:
    if user is None:
        return Student.objects.create(school=school, user=member(school=school, role=Role.STUDENT))
    user = member(school=school, role=Role.STUDENT, user=user)
    student, _ = Student.objects.get_or_create(school=school, user=user)
    return student


def guardian_of(*students: Student, user: User | None = None) -> User:
    for student in students:
        new = user is None
        user = member(school=student.school, role=Role.GUARDIAN, user=user)
        if new:
            GuardianLink.objects.create(guardian=user, student=student)
        else:
            GuardianLink.objects.get_or_create(guardian=user, student=student)
    assert user is not None
    return user


def session_for(
    teacher: Teacher,
    *students: Student,
    subject: Subject | None = None,
    starts_at: Any = None,
    minutes: int = 60,
    **fields: Any,
) -> Session:
    """A scheduled session of ``teacher`` with ``students`` (in the students' school), booked as the school's
    staff would: the students are assigned to the teacher (see ``assign``)."""
    school = students[0].school if students else fields.pop("school")
    subject = subject or SubjectFactory(school=school)
    session = Session.objects.create(
        school=school,
        teacher=teacher,
        subject=subject,
        starts_at=starts_at or timezone.now() + timedelta(days=1),
        planned_duration_minutes=minutes,
        **fields,
    )
    SessionStudent.objects.bulk_create([SessionStudent(session=session, student=s) for s in students])
    assign(teacher, *students)
    return session


def assign(teacher: Teacher, *students: Student) -> None:
    """The school's staff assign ``students`` to ``teacher``: the teacher reaches them."""
    for student in students:
        TeachingAssignment.objects.get_or_create(teacher=teacher, student=student, defaults={"school": student.school})


def note_on(session: Session, *, author: User, visibility: str = "shared", text: str = "Note") -> SessionNote:
    return SessionNote.objects.create(session=session, author=author, visibility=visibility, text=text)


# Amounts whose sum binary floats get wrong: cents that no float holds (0.10, 0.70, 2.67...) beside the largest
# amount an entry's column holds, 2,100 of them. Added as floats (as SQLite adds a decimal column) their total
# is cents off; every money total must still be exact.
FLOAT_HOSTILE_AMOUNTS = [
    Decimal(amount) for amount in ("0.10", "0.20", "0.70", "1.10", "2.67", "1234567.89", "9999999999.99")
] * 300


def ledger_of(
    teacher: Teacher, school: School, *, amounts: list[Decimal], statuses: tuple[str, ...], earned_at: datetime
) -> list[EarningEntry]:
    """One session-less entry per amount, a second apart from ``earned_at`` (so that a scan of the ledger in
    time order adds them in the order given), their statuses in turn from ``statuses``, in one insert."""
    return EarningEntry.objects.bulk_create(
        EarningEntry(
            school=school,
            teacher=teacher,
            amount=amount,
            currency=school.currency,
            minutes=60,
            hourly_rate=Decimal("30.00"),
            earned_at=earned_at + timedelta(seconds=second),
            status=status,
            hold_reason="Held for review." if status == "held" else "",
        )
        for second, (amount, status) in enumerate(zip(amounts, itertools.cycle(statuses), strict=False))
    )


def float_sum(amounts: list[Decimal]) -> float:
    """The amounts added one by one as binary floats, as SQLite's SUM adds a decimal column."""
    total = 0.0
    for amount in amounts:
        total += float(amount)
    return total
