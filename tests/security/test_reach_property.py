"""Reach, as a stateful property: whatever people of every role do, in any order, each sees exactly what the
school's staff decided, and nothing they did alone.

People (some with an account, some only an address) open schools, invite each other, accept, assign
students to teachers, book, cancel and complete sessions, and lose a teaching role, through the services
and the access functions the API calls, in two or more schools. After every step, what each person can
read through the selectors and access functions must equal what the model below grants. The model is
written here, independently of the code: it changes only on a staff decision (an invitation accepted by
its invitee, an assignment, a booking by staff, the end of a teaching role), and never on what a teacher
books, cancels or completes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from chalkboard.accounts.models import User
from chalkboard.common.errors import DomainError
from chalkboard.completion import services as completion
from chalkboard.invitations import services as invitations
from chalkboard.invitations.models import Invitation
from chalkboard.people import selectors as people
from chalkboard.people import services as people_services
from chalkboard.people.models import Student, Teacher
from chalkboard.progress.selectors import progress_may_manage
from chalkboard.scheduling.selectors import session_get_for_viewer
from chalkboard.scheduling.services import session_cancel, session_create
from chalkboard.schools.access import Viewer
from chalkboard.schools.models import Role, School
from chalkboard.schools.selectors import membership_list, school_list
from chalkboard.schools.services import school_create, subject_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STAFF = frozenset({Role.OWNER, Role.ADMIN})
ROLES = [Role.OWNER, Role.ADMIN, Role.TEACHER, Role.STUDENT, Role.GUARDIAN]
WITH_ACCOUNTS = 5  # people 0..4 have an account from the start; the others only an address
PEOPLE = 6
MAX_SCHOOLS = 3
PASSWORD = "a long enough secret 1234"
pick = st.integers(min_value=0, max_value=50)


@dataclass
class Offer:
    """An invitation, as the model knows it."""

    id: int
    token: str
    school: int
    person: int
    role: str
    inviter: int
    ward_people: frozenset[int]  # a guardian's students (people), named when invited
    open: bool = True


@dataclass
class Model:
    """What the staff decided, and nothing else."""

    schools: list[int] = field(default_factory=list)
    roles: dict[tuple[int, int], set[str]] = field(default_factory=dict)  # (person, school): active roles
    joined: dict[int, set[int]] = field(default_factory=dict)  # school: every person who ever held a role
    pupils: dict[int, set[int]] = field(default_factory=dict)  # school: people with a student record there
    assigned: set[tuple[int, int, int]] = field(default_factory=set)  # (teacher, student, school)
    links: set[tuple[int, int, int]] = field(default_factory=set)  # (guardian, student, school)
    offers: list[Offer] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)

    def has(self, person: int, school: int, *roles: str) -> bool:
        return bool(self.roles.get((person, school), set()) & set(roles))

    def may_invite(self, person: int, school: int, role: str) -> bool:
        return self.has(person, school, Role.OWNER) if role in STAFF else self.has(person, school, *STAFF)

    def grant(self, person: int, school: int, role: str) -> None:
        self.roles.setdefault((person, school), set()).add(role)
        self.joined.setdefault(school, set()).add(person)
        if role == Role.STUDENT:
            self.pupils.setdefault(school, set()).add(person)

    # What each person may reach, from the decisions above alone.
    def schools_of(self, person: int) -> set[int]:
        return {school for (who, school), held in self.roles.items() if who == person and held}

    def students_reached(self, person: int) -> set[tuple[int, int]]:
        reached = set()
        for school in self.schools:
            for pupil in self.pupils.get(school, set()):
                if (
                    self.has(person, school, *STAFF)
                    or (self.has(person, school, Role.TEACHER) and (person, pupil, school) in self.assigned)
                    or (pupil == person and self.has(person, school, Role.STUDENT))
                    or ((person, pupil, school) in self.links and self.has(person, school, Role.GUARDIAN))
                ):
                    reached.add((pupil, school))
        return reached

    def guardians_reached(self, person: int) -> set[int]:
        return {
            guardian
            for guardian, pupil, school in self.links
            if self.has(guardian, school, Role.GUARDIAN)
            and (
                self.has(person, school, *STAFF)
                or (self.has(person, school, Role.TEACHER) and (person, pupil, school) in self.assigned)
                or guardian == person
            )
        }

    def teachers_reached(self, person: int) -> set[int]:
        teachers = {
            who
            for (who, school), held in self.roles.items()
            if Role.TEACHER in held and self.has(person, school, *STAFF)
        }
        if any(self.has(person, school, Role.TEACHER) for school in self.schools):
            teachers.add(person)
        return teachers

    def may_manage_progress(self, person: int, pupil: int, school: int) -> bool:
        return self.has(person, school, *STAFF) or (
            self.has(person, school, Role.TEACHER) and (person, pupil, school) in self.assigned
        )


def email(person: int) -> str:
    return f"person{person}@reach.test"


class ReachMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        cache.clear()  # ids come back after each example's rollback: no roles cached from the last one
        self.model = Model()
        self.breaches: list[str] = []
        for person in range(WITH_ACCOUNTS):
            UserFactory(email=email(person), full_name=f"Person {person}")

    def check(self, holds: bool, breach: str) -> bool:
        """A write went as the policy says, or it is noted (and the model left as the policy has it): the
        reach check runs first, so a write that should have been refused shows as what it opened."""
        if not holds:
            self.breaches.append(breach)
        return holds

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- Identities (who is who in the database; never what they may do). ---------------------------
    def user(self, person: int) -> User | None:
        return User.objects.filter(email=email(person)).first()

    def viewer(self, person: int) -> Viewer:
        user = self.user(person)
        assert user is not None
        return Viewer.for_user(user)

    def person_of(self, user_id: int) -> int:
        return int(User.objects.get(pk=user_id).email.removeprefix("person").split("@")[0])

    def student_id(self, person: int, school: int) -> int:
        return Student.objects.get(user__email=email(person), school_id=school).pk

    def with_account(self, index: int) -> int:
        accounts = [p for p in range(PEOPLE) if self.user(p) is not None]
        return accounts[index % len(accounts)]

    def school(self, index: int) -> int:
        return self.model.schools[index % len(self.model.schools)]

    def actor(self, school_id: int, index: int) -> int:
        """Someone with an account, more often a member of the school than not (outsiders try too)."""
        members = sorted(p for p in range(PEOPLE) if self.model.roles.get((p, school_id)))
        everyone = [p for p in range(PEOPLE) if self.user(p) is not None]
        candidates = [*members, *members, *everyone]
        return candidates[index % len(candidates)]

    # --- The start: two schools, each with a teacher and a student who accepted their invitations. ----------
    @initialize()
    def two_schools(self) -> None:
        for founder, teacher, pupil in ((0, 2, 3), (1, 3, 4)):
            self.open_school(founder)
            school = len(self.model.schools) - 1
            for person, role in ((teacher, Role.TEACHER), (pupil, Role.STUDENT)):
                self.invite(0, school, person, role)  # the founder: the first of the school's members
                self.accept(len(self.model.offers) - 1)

    # --- Writes anyone may try. -----------------------------------------------------------------------
    @precondition(lambda self: len(self.model.schools) < MAX_SCHOOLS)
    @rule(founder=pick)
    def open_school(self, founder: int) -> None:
        person = self.with_account(founder)
        user = self.user(person)
        assert user is not None
        school = school_create(by=user, name=f"School of {person}", timezone="Europe/Lisbon", currency="EUR")
        subject_create(viewer=Viewer(user, {school.pk: frozenset({Role.OWNER})}), school=school, name="Maths")
        self.model.schools.append(school.pk)
        self.model.grant(person, school.pk, Role.OWNER)

    @precondition(lambda self: self.model.schools)
    @rule(inviter=pick, school=pick, invitee=st.integers(0, PEOPLE - 1), role=st.sampled_from(ROLES))
    def invite(self, inviter: int, school: int, invitee: int, role: str) -> None:
        school_id = self.school(school)
        person = self.actor(school_id, inviter)
        wards = frozenset(self.model.pupils.get(school_id, set())) if role == Role.GUARDIAN else frozenset()
        details = self.details(school_id, role, wards)
        allowed = self.model.may_invite(person, school_id, role)
        try:
            invitation, token = invitations.invitation_create(
                viewer=self.viewer(person),
                school=School.objects.get(pk=school_id),
                email=email(invitee),
                role=role,
                details=details,
            )
        except DomainError:
            self.check(not allowed, "a permitted invitation was refused")
            return
        if not self.check(allowed, f"person {person} invited to {role} in school {school_id} without the right"):
            return
        for offer in self.model.offers:
            if (offer.school, offer.person, offer.role) == (school_id, invitee, role):
                offer.open = False  # one working invitation per address and role
        self.model.offers.append(Offer(invitation.pk, token, school_id, invitee, role, person, wards))

    def details(self, school_id: int, role: str, wards: frozenset[int]) -> dict[str, Any]:
        school = School.objects.get(pk=school_id)
        if role == Role.TEACHER:
            return people_services.teacher_invitation_details(school=school, default_hourly_rate=Decimal("30"))
        if role == Role.GUARDIAN:
            ids = [self.student_id(pupil, school_id) for pupil in sorted(wards)]
            return people_services.guardian_invitation_details(school=school, student_ids=ids)
        return {}

    @precondition(lambda self: self.model.offers)
    @rule(which=pick)
    def accept(self, which: int) -> None:
        offers = [offer for offer in self.model.offers if offer.open] or self.model.offers
        offer = offers[which % len(offers)]
        expected = offer.open and self.model.may_invite(offer.inviter, offer.school, offer.role)
        user = self.user(offer.person)
        try:
            if user is None:
                invitations.invitation_accept_with_token(token=offer.token, password=PASSWORD)
            else:
                invitation = Invitation.objects.get(pk=offer.id, email=user.email)  # addressed to them
                invitations.invitation_accept(invitation=invitation, user=user)
        except DomainError:
            self.check(not expected, "an open invitation of a rightful inviter was refused")
            return
        if not self.check(expected, "an invitation was accepted that the model holds closed"):
            return
        offer.open = False
        self.model.grant(offer.person, offer.school, offer.role)
        if offer.role == Role.GUARDIAN:
            self.model.links |= {(offer.person, pupil, offer.school) for pupil in offer.ward_people}

    @precondition(lambda self: self.model.schools)
    @rule(actor=pick, school=pick, teacher=st.integers(0, PEOPLE - 1), pupil=pick)
    def assign(self, actor: int, school: int, teacher: int, pupil: int) -> None:
        """As ``POST /api/assignments/``: the student must be visible, the actor staff of the school."""
        school_id = self.school(school)
        person = self.actor(school_id, actor)
        enrolled = sorted(self.model.pupils.get(school_id, set()))
        if not enrolled:
            return
        pupil = enrolled[pupil % len(enrolled)]
        viewer = self.viewer(person)
        allowed = (
            self.model.has(person, school_id, *STAFF)
            and self.model.has(teacher, school_id, Role.TEACHER)
            and pupil in self.model.pupils.get(school_id, set())
        )
        teacher_user = self.user(teacher)
        if teacher_user is None or pupil not in self.model.pupils.get(school_id, set()):
            return  # nobody to name
        try:
            student = people.student_get_for_viewer(viewer=viewer, student_id=self.student_id(pupil, school_id))
            people_services.assignment_create(viewer=viewer, student=student, teacher_id=teacher_user.pk)
        except DomainError:
            self.check(not allowed, "staff were refused an assignment")
            return
        if not self.check(allowed, f"person {person} made an assignment in school {school_id}"):
            return
        self.model.assigned.add((teacher, pupil, school_id))

    @precondition(lambda self: self.model.assigned)
    @rule(actor=pick, which=pick)
    def unassign(self, actor: int, which: int) -> None:
        teacher, pupil, school_id = sorted(self.model.assigned)[which % len(self.model.assigned)]
        person = self.actor(school_id, actor)
        viewer = self.viewer(person)
        assignment = Teacher.objects.get(user__email=email(teacher)).assignments.get(
            student_id=self.student_id(pupil, school_id)
        )
        try:
            visible = people.assignment_get_for_viewer(viewer=viewer, assignment_id=assignment.pk)
            people_services.assignment_delete(viewer=viewer, assignment=visible)
        except DomainError:
            self.check(not self.model.has(person, school_id, *STAFF), "staff were refused ending an assignment")
            return
        if not self.check(self.model.has(person, school_id, *STAFF), f"person {person} ended an assignment"):
            return
        self.model.assigned.discard((teacher, pupil, school_id))

    @precondition(lambda self: self.model.schools)
    @rule(
        actor=pick,
        school=pick,
        teacher=st.one_of(st.none(), st.integers(0, PEOPLE - 1)),
        pupils=st.sets(pick, min_size=1, max_size=2),
        started=st.booleans(),
    )
    def book(self, actor: int, school: int, teacher: int | None, pupils: set[int], started: bool) -> None:
        """``teacher`` None: the actor books themselves. Students are named among the school's."""
        school_id = self.school(school)
        person = self.actor(school_id, actor)
        teacher = person if teacher is None else teacher
        enrolled = sorted(self.model.pupils.get(school_id, set()))
        teacher_user = self.user(teacher)
        if not enrolled or teacher_user is None:
            return  # only people with a student record here can be named at all
        pupils = {enrolled[index % len(enrolled)] for index in pupils}
        teacher_id = teacher_user.pk
        staff = self.model.has(person, school_id, *STAFF)
        for_themselves = teacher == person and self.model.has(person, school_id, Role.TEACHER)
        expected = self.model.has(teacher, school_id, Role.TEACHER) and (
            staff or (for_themselves and all((person, p, school_id) in self.model.assigned for p in pupils))
        )
        try:
            session = session_create(
                viewer=self.viewer(person),
                school_id=school_id,
                teacher_id=teacher_id,
                subject_id=School.objects.get(pk=school_id).subjects.get().pk,
                student_ids=[self.student_id(p, school_id) for p in sorted(pupils)],
                starts_at=timezone.now() + (timedelta(hours=-2) if started else timedelta(days=1)),
                planned_duration_minutes=720,
            )
        except DomainError:
            self.check(not expected, "a booking the policy allows was refused")
            return
        self.model.sessions.append(session.pk)  # booked, rightly or not: others may act on it
        if not self.check(
            expected, f"person {person} booked teacher {teacher} with {sorted(pupils)} in school {school_id}"
        ):
            return
        if staff:  # staff booking a teacher with students is their decision that the teacher teaches them
            self.model.assigned |= {(teacher, p, school_id) for p in pupils}

    @precondition(lambda self: self.model.sessions)
    @rule(actor=pick, which=pick)
    def cancel(self, actor: int, which: int) -> None:
        viewer = self.viewer(self.with_account(actor))
        try:
            session = session_get_for_viewer(
                viewer=viewer, session_id=self.model.sessions[which % len(self.model.sessions)]
            )
            session_cancel(viewer=viewer, session=session, reason="")
        except DomainError:
            return  # refused or already over: either way nobody's reach changes

    @precondition(lambda self: self.model.sessions)
    @rule(actor=pick, which=pick)
    def complete(self, actor: int, which: int) -> None:
        viewer = self.viewer(self.with_account(actor))
        try:
            session = session_get_for_viewer(
                viewer=viewer, session_id=self.model.sessions[which % len(self.model.sessions)]
            )
            marks = [
                completion.AttendanceMark(student_id=s.student_id, status="present") for s in session.attendees.all()
            ]
            completion.session_complete(
                viewer=viewer, session_id=session.pk, attendance=marks, actual_duration_minutes=60
            )
        except DomainError:
            return

    @precondition(lambda self: self.model.schools)
    @rule(actor=pick, school=pick, teacher=st.integers(0, WITH_ACCOUNTS - 1))
    def end_teaching(self, actor: int, school: int, teacher: int) -> None:
        """As ``DELETE /api/teachers/{id}/?school=``: staff only, and the teacher must be visible."""
        school_id = self.school(school)
        person = self.actor(school_id, actor)
        viewer = self.viewer(person)
        allowed = self.model.has(person, school_id, *STAFF) and self.model.has(teacher, school_id, Role.TEACHER)
        teacher_user = self.user(teacher)
        assert teacher_user is not None
        try:
            found = people.teacher_get_for_viewer(viewer=viewer, teacher_id=teacher_user.pk)
            people_services.teacher_deactivate(viewer=viewer, teacher=found, school=School.objects.get(pk=school_id))
        except DomainError:
            self.check(not allowed, "staff were refused ending a teacher's role")
            return
        if not self.check(allowed, f"person {person} ended teacher {teacher}'s role in school {school_id}"):
            return
        self.model.roles[(teacher, school_id)].discard(Role.TEACHER)

    # --- After every step: each person reads exactly what the staff decided. --------------------------
    @invariant()
    def everyone_reaches_what_the_staff_decided(self) -> None:
        model = self.model
        for person in range(PEOPLE):
            user = self.user(person)
            if user is None:
                continue
            viewer = Viewer.for_user(user)
            assert {s: set(r) for s, r in viewer.roles.items()} == {
                s: set(model.roles[(person, s)]) for s in model.schools_of(person)
            }, f"person {person}'s roles"
            assert set(school_list(viewer=viewer).values_list("pk", flat=True)) == model.schools_of(person)
            students = {(self.person_of(s.user_id), s.school_id) for s in people.student_list(viewer=viewer)}
            assert students == model.students_reached(person), f"the students person {person} reaches"
            guardians = {self.person_of(g.pk) for g in people.guardian_list(viewer=viewer)}
            assert guardians == model.guardians_reached(person), f"the guardians person {person} reaches"
            teachers = {self.person_of(t.pk) for t in people.teacher_list(viewer=viewer)}
            assert teachers == model.teachers_reached(person), f"the teachers person {person} reaches"
            for school_id in model.schools:
                if model.has(person, school_id, *STAFF):
                    members = membership_list(viewer=viewer, school=School.objects.get(pk=school_id))
                    assert {self.person_of(m.user_id) for m in members} == model.joined[school_id]
                for pupil in model.pupils.get(school_id, set()):
                    student = Student.objects.get(pk=self.student_id(pupil, school_id))
                    manages = model.may_manage_progress(person, pupil, school_id)
                    assert progress_may_manage(viewer=viewer, student=student) == manages, (
                        f"whether person {person} manages the progress of person {pupil} in school {school_id}"
                    )
                    # The same reach, decided on one student's row (what recording an assessment reads).
                    reached = people.student_reached(viewer=viewer, student_id=student.pk)
                    assert (reached is not None) == ((pupil, school_id) in model.students_reached(person)), (
                        f"whether person {person} reaches person {pupil} in school {school_id}, on the one row"
                    )
                    assert reached is None or reached.student.user_id == student.user_id
                    if reached is not None and model.has(person, school_id, Role.TEACHER):
                        assert reached.assigned == ((person, pupil, school_id) in model.assigned)

    @invariant()
    def writes_went_as_the_policy_says(self) -> None:
        """Checked after the reach (Hypothesis runs invariants by name): each write was allowed exactly when
        the policy allows it."""
        assert not self.breaches, self.breaches


def test_reach_comes_only_from_staff_decisions(db: None) -> None:
    run_state_machine_as_test(
        ReachMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=10,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
