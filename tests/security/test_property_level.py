"""Writes take only the fields the caller may set (OWASP API3, API5).

A field the caller may not set is either refused (400/403) or ignored: in both cases what is stored is
exactly what it would have been without it. Ids from another school in a body are unknown ids (400).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from chalkboard.accounts.models import User
from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.invitations.models import Invitation
from chalkboard.people.models import GuardianLink, SchoolTeacher, Student, TeacherRate
from chalkboard.progress.models import ProgressAssessment, ProgressGoal
from chalkboard.scheduling.models import Session, SessionNote
from chalkboard.schools.models import Membership, Role, School, Subject
from tests import factories as f
from tests.conftest import SchoolWorld, client_for
from tests.schools.helpers import accept_invitation
from tests.security.scene import Filled, fill


def started(world: SchoolWorld) -> Session:
    return f.session_for(
        world.teacher, world.student, subject=world.session.subject, starts_at=timezone.now() - timedelta(hours=2)
    )


def snapshot(instance: Any, *names: str) -> dict[str, Any]:
    instance.refresh_from_db()
    return {name: getattr(instance, name) for name in names}


# --- Earnings: amounts and statuses come from the ledger's rules, never from a request. -----------------


def test_completing_with_earning_fields_records_the_ledgers_amount(world: SchoolWorld) -> None:
    session = started(world)
    payload = {
        "attendance": [{"student_id": world.student.pk, "status": "present"}],
        "actual_duration_minutes": 50,
        "amount": "9999.00",
        "status": "paid",
        "hourly_rate": "500.00",
        "earning": {"amount": "9999.00", "status": "paid", "currency": "USD"},
        "completed_by": world.owner.pk,
        "completed_at": "2000-01-01T00:00:00Z",
        "teacher_id": world.other_teacher.pk,
        "version": 99,
    }
    response = client_for(world.teacher.user).post(f"/api/sessions/{session.pk}/complete/", payload, format="json")

    assert response.status_code == 200
    entry = EarningEntry.objects.get(session=session)
    # 30.00 an hour for 50 minutes
    assert (entry.amount, entry.hourly_rate, entry.status, entry.currency) == (
        Decimal("25.00"),
        Decimal("30.00"),
        "pending",
        "EUR",
    )
    assert entry.teacher_id == world.teacher.pk
    session.refresh_from_db()
    assert (session.teacher_id, session.completed_by_id, session.version) == (world.teacher.pk, world.teacher.pk, 2)
    assert session.completed_at > timezone.now() - timedelta(minutes=1)
    assert response.json()["earning"]["amount"] == "25.00"


def test_amending_with_earning_fields_recomputes_from_the_duration_only(world: SchoolWorld) -> None:
    home = fill(world)
    entry = home.pending_entry
    payload = {"actual_duration_minutes": 40, "amount": "1.00", "status": "approved", "earning": {"status": "paid"}}
    response = client_for(world.teacher.user).put(
        f"/api/sessions/{home.completed.pk}/complete/", payload, format="json"
    )

    assert response.status_code == 200
    entry.refresh_from_db()
    assert (entry.amount, entry.status, entry.minutes, entry.approved_by_id) == (Decimal("20.00"), "pending", 40, None)


def test_a_teacher_cannot_approve_or_pay_their_own_entries(world: SchoolWorld) -> None:
    home = fill(world)
    pending, approved = home.pending_entry, home.approved_entry
    client = client_for(world.teacher.user)

    approve = client.post(
        "/api/earnings/approve/", {"school_id": world.school.pk, "entry_ids": [pending.pk]}, format="json"
    )
    pay = client.post(
        "/api/payouts/",
        {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [approved.pk]},
        format="json",
    )

    assert (approve.status_code, pay.status_code) == (403, 403)
    assert snapshot(pending, "status", "approved_by_id") == {"status": "pending", "approved_by_id": None}
    assert snapshot(approved, "status", "payout_id") == {"status": "approved", "payout_id": None}
    assert Payout.objects.filter(school=world.school).count() == 1  # the scene's own


def test_a_payout_takes_its_amount_from_the_entries(world: SchoolWorld) -> None:
    home = fill(world)
    entry = home.approved_entry
    response = client_for(world.owner).post(
        "/api/payouts/",
        {
            "school_id": world.school.pk,
            "teacher_id": world.teacher.pk,
            "entry_ids": [entry.pk],
            "amount": "1000000.00",
            "currency": "USD",
            "paid_at": "2000-01-01T00:00:00Z",
        },
        format="json",
    )

    assert response.status_code == 201
    payout = Payout.objects.get(pk=response.json()["id"])
    entry.refresh_from_db()
    assert (payout.amount, payout.currency, payout.created_by_id) == (entry.amount, "EUR", world.owner.pk)
    assert payout.paid_at > timezone.now() - timedelta(minutes=1)


# --- Authors and teachers are who is asking, or who the rules say. ---------------------------------------


def test_notes_are_written_by_the_caller_whatever_the_payload_says(world: SchoolWorld) -> None:
    session = started(world)
    note = {
        "visibility": "shared",
        "text": "Well done.",
        "author": world.owner.pk,
        "author_id": world.owner.pk,
        "created_at": "2000-01-01T00:00:00Z",
        "session_id": world.other_session.pk,
    }
    payload = {
        "attendance": [{"student_id": world.student.pk, "status": "present"}],
        "actual_duration_minutes": 50,
        "notes": [note],
    }
    response = client_for(world.teacher.user).post(f"/api/sessions/{session.pk}/complete/", payload, format="json")

    assert response.status_code == 200
    written = SessionNote.objects.get(text="Well done.")
    assert (written.author_id, written.session_id) == (world.teacher.pk, session.pk)
    assert written.created_at > timezone.now() - timedelta(minutes=1)
    assert not SessionNote.objects.filter(session=world.other_session).exists()


def test_a_teacher_cannot_write_admin_notes(world: SchoolWorld) -> None:
    session = started(world)
    payload = {
        "attendance": [{"student_id": world.student.pk, "status": "present"}],
        "actual_duration_minutes": 50,
        "notes": [{"visibility": "admin", "text": "Only for admins."}],
    }
    response = client_for(world.teacher.user).post(f"/api/sessions/{session.pk}/complete/", payload, format="json")

    assert response.status_code == 403
    assert snapshot(session, "status", "version") == {"status": "scheduled", "version": 1}
    assert not SessionNote.objects.filter(text="Only for admins.").exists()


def test_a_teacher_books_sessions_only_for_themselves(world: SchoolWorld) -> None:
    payload = {
        "school_id": world.school.pk,
        "teacher_id": world.other_teacher.pk,
        "subject_id": world.session.subject_id,
        "student_ids": [world.other_student.pk],
        "starts_at": (timezone.now() + timedelta(days=3)).isoformat(),
        "planned_duration_minutes": 60,
    }
    before = Session.objects.count()
    response = client_for(world.teacher.user).post("/api/sessions/", payload, format="json")

    assert response.status_code == 403
    assert Session.objects.count() == before


def test_a_teacher_cannot_give_their_session_to_another_teacher(world: SchoolWorld) -> None:
    session = world.session
    response = client_for(world.teacher.user).patch(
        f"/api/sessions/{session.pk}/", {"teacher_id": world.other_teacher.pk, "location": "Room 9"}, format="json"
    )

    assert response.status_code == 403
    assert snapshot(session, "teacher_id", "location", "version") == {
        "teacher_id": world.teacher.pk,
        "location": "",
        "version": 1,
    }


def test_a_teacher_records_assessments_in_their_own_name(world: SchoolWorld) -> None:
    payload = {
        "student_id": world.student.pk,
        "subject_id": world.session.subject_id,
        "kind": "quiz",
        "score": "8",
        "max_score": "10",
        "teacher_id": world.other_teacher.pk,
    }
    response = client_for(world.teacher.user).post("/api/assessments/", payload, format="json")

    assert response.status_code == 403
    assert not ProgressAssessment.objects.exists()


def test_assessment_percentage_and_school_come_from_the_scores_and_the_student(
    world: SchoolWorld, other_world: SchoolWorld
) -> None:
    payload = {
        "student_id": world.student.pk,
        "subject_id": world.session.subject_id,
        "kind": "quiz",
        "score": "8",
        "max_score": "10",
        "percentage": "100.00",
        "school_id": other_world.school.pk,
        "id": 424242,
    }
    response = client_for(world.teacher.user).post("/api/assessments/", payload, format="json")

    assert response.status_code == 201
    assessment = ProgressAssessment.objects.get()
    assert (assessment.percentage, assessment.school_id, assessment.teacher_id) == (
        Decimal("80.00"),
        world.school.pk,
        world.teacher.pk,
    )
    assert assessment.pk != 424242


# --- Ids from another school are unknown ids. -------------------------------------------------------------


def _foreign(other_world: SchoolWorld) -> dict[str, int]:
    return {
        "student": other_world.student.pk,
        "subject": other_world.session.subject_id,
        "teacher": other_world.teacher.pk,
        "guardian": other_world.guardian.pk,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("student_ids", "student"), ("subject_id", "subject"), ("teacher_id", "teacher")],
)
def test_booking_with_another_schools_ids_is_refused(
    world: SchoolWorld, other_world: SchoolWorld, field: str, value: str
) -> None:
    payload: dict[str, Any] = {
        "school_id": world.school.pk,
        "teacher_id": world.teacher.pk,
        "subject_id": world.session.subject_id,
        "student_ids": [world.student.pk],
        "starts_at": (timezone.now() + timedelta(days=3)).isoformat(),
        "planned_duration_minutes": 60,
    }
    foreign = _foreign(other_world)[value]
    payload[field] = [foreign] if field == "student_ids" else foreign
    before = Session.objects.count()
    response = client_for(world.owner).post("/api/sessions/", payload, format="json")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {field}
    assert Session.objects.count() == before


@pytest.mark.parametrize(("field", "value"), [("student_ids", "student"), ("subject_id", "subject")])
def test_rescheduling_with_another_schools_ids_is_refused(
    world: SchoolWorld, other_world: SchoolWorld, field: str, value: str
) -> None:
    foreign = _foreign(other_world)[value]
    payload = {field: [foreign] if field == "student_ids" else foreign}
    response = client_for(world.teacher.user).patch(f"/api/sessions/{world.session.pk}/", payload, format="json")

    assert response.status_code == 400
    assert snapshot(world.session, "subject_id", "version") == {
        "subject_id": world.session.subject_id,
        "version": 1,
    }
    assert list(world.session.students.values_list("pk", flat=True)) == [world.student.pk]


def test_completing_with_another_schools_student_is_refused(world: SchoolWorld, other_world: SchoolWorld) -> None:
    session = started(world)
    payload = {
        "attendance": [
            {"student_id": world.student.pk, "status": "present"},
            {"student_id": other_world.student.pk, "status": "present"},
        ],
        "actual_duration_minutes": 50,
    }
    response = client_for(world.teacher.user).post(f"/api/sessions/{session.pk}/complete/", payload, format="json")

    assert response.status_code == 400
    assert snapshot(session, "status") == {"status": "scheduled"}
    assert not EarningEntry.objects.filter(session=session).exists()


@pytest.mark.parametrize(("field", "value"), [("student_id", "student"), ("subject_id", "subject")])
def test_assessing_with_another_schools_ids_is_refused(
    world: SchoolWorld, other_world: SchoolWorld, field: str, value: str
) -> None:
    payload = {
        "student_id": world.student.pk,
        "subject_id": world.session.subject_id,
        "kind": "quiz",
        "score": "8",
        "max_score": "10",
        field: _foreign(other_world)[value],
    }
    response = client_for(world.teacher.user).post("/api/assessments/", payload, format="json")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {field}
    assert not ProgressAssessment.objects.exists()


def test_a_goal_with_another_schools_subject_is_refused(world: SchoolWorld, other_world: SchoolWorld) -> None:
    payload = {"subject_id": other_world.session.subject_id, "title": "Anything", "target_percentage": "50"}
    response = client_for(world.teacher.user).post(f"/api/students/{world.student.pk}/goals/", payload, format="json")

    assert response.status_code == 400
    assert not ProgressGoal.objects.exists()


def test_moving_a_goal_to_another_student_or_school_is_ignored(world: SchoolWorld, other_world: SchoolWorld) -> None:
    home = fill(world)
    goal = home.goal
    payload = {
        "title": "Fractions at 85%",
        "student_id": world.other_student.pk,
        "student": other_world.student.pk,
        "created_by": world.teacher.pk,
    }
    response = client_for(world.teacher.user).patch(f"/api/goals/{goal.pk}/", payload, format="json")

    assert response.status_code == 200
    assert snapshot(goal, "title", "student_id", "created_by_id") == {
        "title": "Fractions at 85%",
        "student_id": world.student.pk,
        "created_by_id": world.owner.pk,
    }


@pytest.mark.parametrize(
    ("path", "linked"),
    [
        ("/api/teachers/", lambda foreign: {"subject_ids": [foreign["subject"]]}),
        ("/api/teachers/", lambda foreign: {"rates": [{"subject_id": foreign["subject"], "hourly_rate": "99.00"}]}),
        ("/api/guardians/", lambda foreign: {"student_ids": [foreign["student"]]}),
        ("/api/students/", lambda foreign: {"guardian_ids": [foreign["guardian"]]}),
    ],
)
def test_people_linked_to_another_schools_ids_are_refused(
    world: SchoolWorld, other_world: SchoolWorld, path: str, linked: Callable[[dict[str, int]], dict[str, Any]]
) -> None:
    links = linked(_foreign(other_world))
    body = {
        "school_id": world.school.pk,
        "email": "someone.new@example.test",
        "full_name": "Someone New",
        "default_hourly_rate": "30.00",
        "student_ids": [world.student.pk],
        **links,
    }
    response = client_for(world.owner).post(path, body, format="json")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == set(links)
    assert not User.objects.filter(email="someone.new@example.test").exists()


def test_changing_a_teachers_subjects_to_another_schools_is_refused(
    world: SchoolWorld, other_world: SchoolWorld
) -> None:
    response = client_for(world.owner).patch(
        f"/api/teachers/{world.teacher.pk}/",
        {"school_id": world.school.pk, "subject_ids": [other_world.session.subject_id]},
        format="json",
    )

    assert response.status_code == 400
    assert not world.teacher.subjects.exists()


def test_approving_or_paying_another_schools_entries_is_refused(world: SchoolWorld, other_world: SchoolWorld) -> None:
    fill(world)
    away: Filled = fill(other_world)
    pending, approved = away.pending_entry, away.approved_entry
    client = client_for(world.owner)

    approve = client.post(
        "/api/earnings/approve/", {"school_id": world.school.pk, "entry_ids": [pending.pk]}, format="json"
    )
    pay = client.post(
        "/api/payouts/",
        {"school_id": world.school.pk, "teacher_id": other_world.teacher.pk, "entry_ids": [approved.pk]},
        format="json",
    )
    pay_their_school = client.post(
        "/api/payouts/",
        {"school_id": other_world.school.pk, "teacher_id": other_world.teacher.pk, "entry_ids": [approved.pk]},
        format="json",
    )

    assert (approve.status_code, pay.status_code, pay_their_school.status_code) == (400, 400, 404)
    assert snapshot(pending, "status") == {"status": "pending"}
    assert snapshot(approved, "status", "payout_id") == {"status": "approved", "payout_id": None}


# --- Students and guardians set nothing. ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["student", "guardian"])
def test_students_and_guardians_change_nothing(world: SchoolWorld, role: str) -> None:
    home = fill(world)
    client = client_for(world.user(role))
    student, session, goal = world.student, world.session, home.goal
    before = (
        snapshot(student, "grade", "notes", "is_active", "school_id"),
        snapshot(session, "location", "status", "version", "starts_at"),
        snapshot(goal, "title", "target_percentage"),
    )
    answers = [
        client.patch(f"/api/students/{student.pk}/", {"grade": "12", "notes": "", "is_active": False}, format="json"),
        client.delete(f"/api/students/{student.pk}/"),
        client.patch(f"/api/sessions/{session.pk}/", {"location": "Home", "version": 1}, format="json"),
        client.post(f"/api/sessions/{session.pk}/cancel/", {"reason": "no"}, format="json"),
        client.post(f"/api/sessions/{home.started.pk}/no-show/", {}, format="json"),
        client.patch(f"/api/goals/{goal.pk}/", {"title": "Easy", "target_percentage": "1"}, format="json"),
        client.post(
            f"/api/students/{student.pk}/goals/",
            {"subject_id": home.subject.pk, "title": "Mine", "target_percentage": "10"},
            format="json",
        ),
        client.post(
            "/api/assessments/",
            {"student_id": student.pk, "subject_id": home.subject.pk, "kind": "quiz", "score": "10", "max_score": "10"},
            format="json",
        ),
        client.patch(f"/api/schools/{world.school.pk}/", {"name": "Mine now"}, format="json"),
        client.post(f"/api/schools/{world.school.pk}/members/", {"email": "x@example.test", "role": "admin"}),
    ]

    assert {answer.status_code for answer in answers} == {403}
    assert before == (
        snapshot(student, "grade", "notes", "is_active", "school_id"),
        snapshot(session, "location", "status", "version", "starts_at"),
        snapshot(goal, "title", "target_percentage"),
    )
    assert ProgressGoal.objects.filter(student=student).count() == 1
    assert ProgressAssessment.objects.filter(student=student).count() == 1
    assert School.objects.get(pk=world.school.pk).name == world.school.name
    assert not User.objects.filter(email="x@example.test").exists()


# --- Mass assignment on PATCH. ----------------------------------------------------------------------------------


def test_patching_a_student_ignores_identity_and_school_fields(world: SchoolWorld, other_world: SchoolWorld) -> None:
    student = world.student
    payload = {
        "grade": "9",
        "school_id": other_world.school.pk,
        "school": other_world.school.pk,
        "user_id": world.admin.pk,
        "is_staff": True,
        "email": "taken@example.test",
        "id": 4242,
    }
    response = client_for(world.owner).patch(f"/api/students/{student.pk}/", payload, format="json")

    assert response.status_code == 200
    assert snapshot(student, "grade", "school_id", "user_id", "is_active") == {
        "grade": "9",
        "school_id": world.school.pk,
        "user_id": student.user_id,
        "is_active": True,
    }
    assert snapshot(student.user, "email", "is_staff") == {"email": student.user.email, "is_staff": False}
    assert not Student.objects.filter(pk=4242).exists()


def test_a_teacher_editing_their_profile_sets_only_the_bio(world: SchoolWorld) -> None:
    teacher = world.teacher
    payload = {
        "bio": "Maths since 2010.",
        "school_id": world.school.pk,
        "is_staff": True,
        "is_active": False,
        "email": "new@example.test",
        "name": "Someone Else",
        "full_name": "Someone Else",
        "schools": [{"id": 999, "name": "Mine"}],
    }
    response = client_for(teacher.user).patch(f"/api/teachers/{teacher.pk}/", payload, format="json")

    assert response.status_code == 200
    assert list(SchoolTeacher.objects.values_list("school_id", "bio")) == [(world.school.pk, "Maths since 2010.")]
    assert snapshot(teacher.user, "email", "full_name", "is_staff", "is_active") == {
        "email": teacher.user.email,
        "full_name": teacher.user.full_name,
        "is_staff": False,
        "is_active": True,
    }


@pytest.mark.parametrize(
    "change",
    [
        lambda subject: {"default_hourly_rate": "90.00"},
        lambda subject: {"group_hourly_rate": "90.00"},
        lambda subject: {"rates": [{"subject_id": subject, "hourly_rate": "90.00"}]},
        lambda subject: {"subject_ids": [subject]},
    ],
)
def test_a_teacher_cannot_set_their_own_rates_or_subjects(
    world: SchoolWorld, change: Callable[[int], dict[str, Any]]
) -> None:
    rates_before = list(TeacherRate.objects.filter(teacher=world.teacher).values_list("subject_id", "hourly_rate"))
    body = {"school_id": world.school.pk, **change(world.session.subject_id)}
    response = client_for(world.teacher.user).patch(f"/api/teachers/{world.teacher.pk}/", body, format="json")

    assert response.status_code == 403
    rates = list(TeacherRate.objects.filter(teacher=world.teacher).values_list("subject_id", "hourly_rate"))
    assert rates == rates_before
    assert not world.teacher.subjects.exists()


def test_patching_a_school_or_subject_keeps_its_identity(world: SchoolWorld, other_world: SchoolWorld) -> None:
    school, subject = world.school, world.session.subject
    client = client_for(world.owner)

    school_answer = client.patch(
        f"/api/schools/{school.pk}/",
        {"name": "Renamed", "id": other_world.school.pk, "roles": ["owner"]},
        format="json",
    )
    subject_answer = client.patch(
        f"/api/subjects/{subject.pk}/", {"name": "Geometry", "school_id": other_world.school.pk}, format="json"
    )

    assert (school_answer.status_code, subject_answer.status_code) == (200, 200)
    assert School.objects.get(pk=school.pk).name == "Renamed"
    assert School.objects.get(pk=other_world.school.pk).name == other_world.school.name
    assert snapshot(subject, "name", "school_id") == {"name": "Geometry", "school_id": school.pk}
    assert not Subject.objects.filter(school=other_world.school, name="Geometry").exists()


def test_patching_a_session_cannot_set_its_outcome_or_school(world: SchoolWorld, other_world: SchoolWorld) -> None:
    session = world.session
    payload = {
        "location": "Room 9",
        "status": "completed",
        "completed_at": "2026-01-01T00:00:00Z",
        "completed_by": world.teacher.pk,
        "actual_duration_minutes": 600,
        "school_id": other_world.school.pk,
        "cancellation_reason": "forged",
    }
    response = client_for(world.teacher.user).patch(f"/api/sessions/{session.pk}/", payload, format="json")

    assert response.status_code == 200
    assert snapshot(
        session, "location", "status", "completed_at", "completed_by_id", "actual_duration_minutes", "school_id"
    ) == {
        "location": "Room 9",
        "status": "scheduled",
        "completed_at": None,
        "completed_by_id": None,
        "actual_duration_minutes": None,
        "school_id": world.school.pk,
    }
    assert not EarningEntry.objects.filter(session=session).exists()


def test_patching_a_guardian_changes_only_their_links(world: SchoolWorld) -> None:
    guardian = world.guardian
    payload = {
        "school_id": world.school.pk,
        "student_ids": [world.student.pk, world.other_student.pk],
        "is_staff": True,
        "email": "guardian.new@example.test",
        "name": "Forged",
    }
    response = client_for(world.owner).patch(f"/api/guardians/{guardian.pk}/", payload, format="json")

    assert response.status_code == 200
    assert snapshot(guardian, "email", "full_name", "is_staff") == {
        "email": guardian.email,
        "full_name": guardian.full_name,
        "is_staff": False,
    }
    linked = set(GuardianLink.objects.filter(guardian=guardian).values_list("student_id", flat=True))
    assert linked == {world.student.pk, world.other_student.pk}


def test_an_admin_cannot_make_owners_or_admins_nor_remove_them(world: SchoolWorld) -> None:
    client = client_for(world.admin)
    owner_membership = Membership.objects.get(user=world.owner, school=world.school, role=Role.OWNER)

    grants = [
        client.post(
            f"/api/schools/{world.school.pk}/members/",
            {"email": world.teacher.user.email, "role": role},
            format="json",
        )
        for role in ("owner", "admin")
    ]
    revoke = client.delete(f"/api/schools/{world.school.pk}/members/{owner_membership.pk}/")

    assert [answer.status_code for answer in grants] == [403, 403]
    assert revoke.status_code == 403
    assert not Membership.objects.filter(user=world.teacher.user, role__in=[Role.OWNER, Role.ADMIN]).exists()
    assert snapshot(owner_membership, "is_active") == {"is_active": True}


def test_an_invitation_grants_only_the_role(world: SchoolWorld, other_world: SchoolWorld) -> None:
    response = client_for(world.owner).post(
        f"/api/schools/{world.school.pk}/members/",
        {
            "email": "helper@example.test",
            "full_name": "Helper",
            "role": "teacher",
            "is_active": False,
            "school_id": other_world.school.pk,
            "is_staff": True,
        },
        format="json",
    )

    assert response.status_code == 201
    assert list(Invitation.objects.values_list("school_id", "role")) == [(world.school.pk, "teacher")]
    user = accept_invitation("helper@example.test")
    assert not user.is_staff
    assert list(Membership.objects.filter(user=user).values_list("school_id", "role", "is_active")) == [
        (world.school.pk, "teacher", True)
    ]


# --- Versions are the server's. ------------------------------------------------------------------------------------


def test_a_version_ahead_of_the_session_is_a_conflict(world: SchoolWorld) -> None:
    session = world.session
    response = client_for(world.teacher.user).patch(
        f"/api/sessions/{session.pk}/", {"location": "Room 9", "version": 7}, format="json"
    )

    assert response.status_code == 409
    assert snapshot(session, "location", "version") == {"location": "", "version": 1}


def test_the_version_sent_is_checked_not_stored(world: SchoolWorld) -> None:
    session = world.session
    client = client_for(world.teacher.user)

    first = client.patch(f"/api/sessions/{session.pk}/", {"location": "Room 9", "version": 1}, format="json")
    stale = client.patch(f"/api/sessions/{session.pk}/", {"location": "Room 10", "version": 1}, format="json")
    forged_header = client.patch(
        f"/api/sessions/{session.pk}/", {"location": "Room 11"}, format="json", HTTP_IF_MATCH='"99"'
    )

    assert (first.status_code, first.json()["version"]) == (200, 2)
    assert (stale.status_code, forged_header.status_code) == (409, 409)
    assert snapshot(session, "location", "version") == {"location": "Room 9", "version": 2}


@pytest.mark.parametrize("version", [-1, 0, 2**31, "2", "latest", None, 1.5])
def test_an_odd_version_is_refused_or_ignored_never_stored(world: SchoolWorld, version: Any) -> None:
    session = world.session
    response = client_for(world.teacher.user).patch(
        f"/api/sessions/{session.pk}/", {"location": "Room 9", "version": version}, format="json"
    )

    # "2" is read as 2, which is not the session's version; everything else is not a version at all.
    assert response.status_code in (400, 409)
    assert snapshot(session, "location", "version") == {"location": "", "version": 1}
