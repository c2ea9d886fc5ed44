"""The people of the demo: schools, their staff, teachers (one of them in two schools), students, guardians.

``cast_build`` returns the plan the rest of the generator works from and the rows that create it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import cycle

from chalkboard.demo import tables as t
from chalkboard.demo import words
from chalkboard.demo.specs import SchoolSpec, Spec
from chalkboard.earnings.services import RateKey
from chalkboard.schools.models import DEFAULT_LATE_CLAIM_DAYS, DEFAULT_OVERRUN_MINUTES, DEFAULT_PAID_AMEND_DAYS, Role

# Hourly rates by currency: lowest, highest and the step between them.
RATE_RANGES: dict[str, tuple[int, int, int]] = {
    "EUR": (25, 45, 1),
    "GBP": (25, 45, 1),
    "USD": (30, 60, 1),
    "CAD": (35, 60, 1),
    "AUD": (40, 65, 1),
    "BRL": (80, 160, 5),
    "JPY": (3000, 6000, 100),
}
GROUP_RATE_FACTOR = Decimal("1.30")
CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> Decimal:
    """An amount as a school enters it: to the cent."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    full_name: str


@dataclass(frozen=True)
class SubjectPlan:
    id: int
    name: str
    skills: tuple[tuple[int, str], ...]  # (skill id, name)


@dataclass(eq=False)
class StudentPlan:
    id: int
    person: Person
    ability: float  # the share of marks they score at first
    growth: float  # how much that share changes over the whole calendar


@dataclass(eq=False)
class Teaching:
    """One teacher in one school: subjects, rates, lessons a week and the students they teach there."""

    teacher: Person
    subjects: list[SubjectPlan]
    rates: dict[RateKey, Decimal]
    slots: int = 0
    busy: bool = False
    guest: bool = False
    roster: list[StudentPlan] = field(default_factory=list)


@dataclass(eq=False)
class GuardianPlan:
    person: Person
    students: list[StudentPlan]


@dataclass(eq=False)
class SchoolPlan:
    index: int
    id: int
    spec: SchoolSpec
    owner: Person
    admin: Person
    subjects: list[SubjectPlan]
    teachings: list[Teaching] = field(default_factory=list)
    students: list[StudentPlan] = field(default_factory=list)
    guardians: list[GuardianPlan] = field(default_factory=list)

    def ordered_teachings(self) -> list[Teaching]:
        """Busy teachers first, then teachers from another school, then the rest."""
        return sorted(self.teachings, key=lambda teaching: (not teaching.busy, not teaching.guest))


@dataclass
class Cast:
    schools: list[SchoolPlan]

    def teachers_in_several_schools(self) -> set[int]:
        counts = Counter(teaching.teacher.id for school in self.schools for teaching in school.teachings)
        return {teacher_id for teacher_id, count in counts.items() if count > 1}


class _CastBuilder:
    def __init__(self, *, spec: Spec, rng: random.Random, ids: t.Ids, anchor: datetime, password_hash: str):
        self.spec = spec
        self.rng = rng
        self.ids = ids
        self.password_hash = password_hash
        self.joined = anchor - timedelta(weeks=spec.weeks_past, days=30)
        self.batch = t.Batch()

    def build(self) -> Cast:
        schools = [self.school(index, school_spec) for index, school_spec in enumerate(self.spec.schools)]
        for index in range(len(schools) - 1):
            self.share_teachers(schools[index], schools[index + 1])
        self.size_weeks(schools)
        for school in schools:
            self.assign_rosters(school)
            self.record_assignments(school)
        return Cast(schools=schools)

    # --- rows ---------------------------------------------------------------------------------------
    def stamps(self) -> dict[str, datetime]:
        return {"created_at": self.joined, "updated_at": self.joined}

    def person(self, email: str, *, last_name: str | None = None) -> Person:
        name = f"{self.rng.choice(words.FIRST_NAMES)} {last_name or self.rng.choice(words.LAST_NAMES)}"
        person = Person(id=self.ids.next(t.USER), email=email, full_name=name)
        self.batch.add(
            t.USER,
            id=person.id,
            password=self.password_hash,
            last_login=None,
            email=email,
            full_name=name,
            is_active=True,
            is_staff=False,
            date_joined=self.joined,
        )
        return person

    def member(self, person: Person, school_id: int, role: str) -> None:
        self.batch.add(
            t.MEMBERSHIP,
            id=self.ids.next(t.MEMBERSHIP),
            user_id=person.id,
            school_id=school_id,
            role=role,
            is_active=True,
            **self.stamps(),
        )

    # --- schools and staff --------------------------------------------------------------------------
    def school(self, index: int, spec: SchoolSpec) -> SchoolPlan:
        school_id = self.ids.next(t.SCHOOL)
        self.batch.add(
            t.SCHOOL,
            id=school_id,
            name=spec.name,
            timezone=spec.timezone,
            currency=spec.currency,
            no_show_billable=spec.no_show_billable,
            late_claim_days=DEFAULT_LATE_CLAIM_DAYS,
            overrun_minutes=DEFAULT_OVERRUN_MINUTES,
            paid_amend_days=DEFAULT_PAID_AMEND_DAYS,
            **self.stamps(),
        )
        subjects = [self.subject(school_id, subject.name, subject.skills) for subject in spec.subjects]
        domain = f"{spec.slug}.{self.spec.email_domain}"
        owner, admin = self.person(f"owner@{domain}"), self.person(f"admin@{domain}")
        self.member(owner, school_id, Role.OWNER)
        self.member(admin, school_id, Role.ADMIN)
        school = SchoolPlan(index=index, id=school_id, spec=spec, owner=owner, admin=admin, subjects=subjects)
        self.hire_teachers(school, domain)
        self.enrol_students(school, domain)
        return school

    def subject(self, school_id: int, name: str, skills: tuple[str, ...]) -> SubjectPlan:
        subject_id = self.ids.next(t.SUBJECT)
        self.batch.add(t.SUBJECT, id=subject_id, school_id=school_id, name=name, **self.stamps())
        skill_plans = []
        for skill in skills:
            skill_id = self.ids.next(t.SKILL)
            self.batch.add(t.SKILL, id=skill_id, subject_id=subject_id, name=skill)
            skill_plans.append((skill_id, skill))
        return SubjectPlan(id=subject_id, name=name, skills=tuple(skill_plans))

    # --- teachers -----------------------------------------------------------------------------------
    def hire_teachers(self, school: SchoolPlan, domain: str) -> None:
        width = len(str(school.spec.teachers))
        for number in range(school.spec.teachers):
            person = self.person(f"teacher{number + 1:0{width}}@{domain}")
            bio = self.rng.choice(words.BIOS)
            self.batch.add(t.TEACHER, user_id=person.id, **self.stamps())
            teaching = self.teach(person, school, first_subject=number, bio=bio)
            teaching.busy = number < self.spec.busy_teachers
        if school.spec.owner_teaches:
            self.batch.add(t.TEACHER, user_id=school.owner.id, **self.stamps())
            self.teach(
                school.owner, school, first_subject=school.spec.teachers, bio="Runs the school and still teaches."
            )

    def teach(self, person: Person, school: SchoolPlan, *, first_subject: int, bio: str = "") -> Teaching:
        """A teacher membership in ``school``, with the school's record of them (its bio), subjects and rates."""
        self.member(person, school.id, Role.TEACHER)
        self.batch.add(
            t.SCHOOL_TEACHER,
            id=self.ids.next(t.SCHOOL_TEACHER),
            teacher_id=person.id,
            school_id=school.id,
            bio=bio,
            **self.stamps(),
        )
        count = len(school.subjects)
        subjects = [school.subjects[first_subject % count]]
        if count > 1 and self.rng.random() < 0.5:
            subjects.append(school.subjects[(first_subject + 1) % count])
        for subject in subjects:
            self.batch.add(
                t.TEACHER_SUBJECT, id=self.ids.next(t.TEACHER_SUBJECT), teacher_id=person.id, subject_id=subject.id
            )
        teaching = Teaching(teacher=person, subjects=subjects, rates=self.rates(person, school, subjects[0]))
        school.teachings.append(teaching)
        return teaching

    def rates(self, person: Person, school: SchoolPlan, subject: SubjectPlan) -> dict[RateKey, Decimal]:
        """A default rate, a better one for the teacher's main subject, and one for group sessions."""
        low, high, step = RATE_RANGES.get(school.spec.currency, (20, 50, 1))
        default = Decimal(low + step * self.rng.randrange((high - low) // step + 1))
        rates: dict[RateKey, Decimal] = {
            (None, False): to_cents(default),
            (subject.id, False): to_cents(default + step * 5),
            (None, True): to_cents(default * GROUP_RATE_FACTOR),
        }
        for (subject_id, is_group), hourly_rate in rates.items():
            self.batch.add(
                t.TEACHER_RATE,
                id=self.ids.next(t.TEACHER_RATE),
                teacher_id=person.id,
                school_id=school.id,
                subject_id=subject_id,
                is_group=is_group,
                hourly_rate=hourly_rate,
                **self.stamps(),
            )
        return rates

    def share_teachers(self, home: SchoolPlan, other: SchoolPlan) -> None:
        """The first teachers after the busy ones also teach in the next school."""
        home_teachers = [teaching for teaching in home.teachings if teaching.teacher != home.owner]
        for teaching in home_teachers[self.spec.busy_teachers :][: self.spec.shared_teachers]:
            guest = self.teach(teaching.teacher, other, first_subject=teaching.teacher.id)
            guest.guest = True

    # --- students and guardians ---------------------------------------------------------------------
    def enrol_students(self, school: SchoolPlan, domain: str) -> None:
        width = len(str(school.spec.students))
        for number in range(school.spec.students):
            person = self.person(f"student{number + 1:0{width}}@{domain}")
            self.member(person, school.id, Role.STUDENT)
            student = StudentPlan(
                id=self.ids.next(t.STUDENT),
                person=person,
                ability=self.rng.uniform(0.35, 0.9),
                growth=self.rng.uniform(-0.15, 0.3),
            )
            self.batch.add(
                t.STUDENT,
                id=student.id,
                school_id=school.id,
                user_id=person.id,
                grade=self.rng.choice(words.GRADES),
                notes="",
                is_active=True,
                **self.stamps(),
            )
            school.students.append(student)
        self.add_guardians(school, domain)

    def add_guardians(self, school: SchoolPlan, domain: str) -> None:
        """Most students have a guardian; some guardians have two children in the school."""
        families: list[list[StudentPlan]] = []
        students = iter(school.students)
        for student in students:
            if self.rng.random() >= self.spec.guardian_share:
                continue
            family = [student]
            # The first family always has two children, so every school has a guardian of siblings.
            if not families or self.rng.random() < self.spec.two_children_share:
                sibling = next(students, None)
                if sibling is not None:
                    family.append(sibling)
            families.append(family)
        width = len(str(len(families)))
        for number, family in enumerate(families):
            self.guardian(school, f"guardian{number + 1:0{width}}@{domain}", family)

    def guardian(self, school: SchoolPlan, email: str, children: list[StudentPlan]) -> None:
        person = self.person(email, last_name=children[0].person.full_name.split(" ", 1)[1])
        self.member(person, school.id, Role.GUARDIAN)
        relationship = self.rng.choice(words.RELATIONSHIPS)
        for child in children:
            self.batch.add(
                t.GUARDIAN_LINK,
                id=self.ids.next(t.GUARDIAN_LINK),
                guardian_id=person.id,
                student_id=child.id,
                relationship=relationship,
                **self.stamps(),
            )
        school.guardians.append(GuardianPlan(person=person, students=children))

    # --- calendars ----------------------------------------------------------------------------------
    def size_weeks(self, schools: list[SchoolPlan]) -> None:
        """Lessons a week per teaching: fixed for busy and guest teachers; the rest share what reaches the
        sessions target, or have ``normal_slots`` each."""
        normal: list[Teaching] = []
        fixed = 0
        for teaching in (teaching for school in schools for teaching in school.teachings):
            if teaching.busy or teaching.guest:
                teaching.slots = self.spec.busy_slots if teaching.busy else self.spec.guest_slots
                fixed += teaching.slots
            else:
                normal.append(teaching)
        shares = [self.spec.normal_slots] * len(normal)
        if self.spec.sessions_target is not None and normal:
            weekly = round(self.spec.sessions_target / (self.spec.weeks_past + self.spec.weeks_future))
            base, extra = divmod(max(weekly - fixed, len(normal)), len(normal))
            shares = [base + (1 if position < extra else 0) for position in range(len(normal))]
        for teaching, slots in zip(normal, shares, strict=True):
            teaching.slots = slots

    def assign_rosters(self, school: SchoolPlan) -> None:
        """Busy teachers take big rosters; everyone else shares the rest in proportion to their lessons;
        some students also see a second teacher; nobody is left without a student."""
        students = list(school.students)
        self.rng.shuffle(students)
        busy = [teaching for teaching in school.teachings if teaching.busy]
        others = [teaching for teaching in school.teachings if not teaching.busy] or busy
        taken = self.fill_busy_rosters(busy, students)
        turns = max(teaching.slots for teaching in others)
        by_lessons = [teaching for turn in range(turns) for teaching in others if turn < teaching.slots]
        for student, teaching in zip(students[taken:], cycle(by_lessons), strict=False):
            teaching.roster.append(student)
        for student in school.students:
            if self.rng.random() < self.spec.second_teacher_share:
                teaching = self.rng.choice(others)
                if student not in teaching.roster:
                    teaching.roster.append(student)
        for teaching in school.teachings:
            if not teaching.roster:
                teaching.roster.append(self.rng.choice(school.students))

    def record_assignments(self, school: SchoolPlan) -> None:
        """The rosters are the staff's decisions: each student on one is assigned to its teacher."""
        assigned: set[tuple[int, int]] = set()
        for teaching in school.teachings:
            for student in teaching.roster:
                if (teaching.teacher.id, student.id) in assigned:
                    continue
                assigned.add((teaching.teacher.id, student.id))
                self.batch.add(
                    t.TEACHING_ASSIGNMENT,
                    id=self.ids.next(t.TEACHING_ASSIGNMENT),
                    school_id=school.id,
                    teacher_id=teaching.teacher.id,
                    student_id=student.id,
                    assigned_by_id=school.admin.id,
                    **self.stamps(),
                )

    def fill_busy_rosters(self, busy: list[Teaching], students: list[StudentPlan]) -> int:
        """Consecutive runs of the shuffled students; how many were taken."""
        taken = 0
        for teaching in busy:
            size = min(self.rng.randint(*self.spec.busy_roster), len(students))
            teaching.roster = [students[(taken + offset) % len(students)] for offset in range(size)]
            taken += size
        return taken


def cast_build(
    *, spec: Spec, rng: random.Random, ids: t.Ids, anchor: datetime, password_hash: str
) -> tuple[Cast, t.Batch]:
    builder = _CastBuilder(spec=spec, rng=rng, ids=ids, anchor=anchor, password_hash=password_hash)
    cast = builder.build()
    return cast, builder.batch
