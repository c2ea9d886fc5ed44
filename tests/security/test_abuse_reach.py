"""Abuse cases: what a user can make themselves able to see, by opening a school, naming someone's email, or
booking and cancelling sessions.

Each test is an attack that worked before: a school anyone may open was a window onto every other school's
people (adding them by email answered with their id and name, and enrolled them without their consent);
another school could rewrite what a teacher's own school reads of them; a teacher could grant themselves any
student of the school by booking, then cancelling, a session with them.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chalkboard.accounts.models import User
from chalkboard.invitations.models import Invitation
from chalkboard.people.models import SchoolTeacher, Student, TeachingAssignment
from chalkboard.scheduling.models import Session
from chalkboard.schools.models import Membership, Role, School
from tests import factories as f
from tests.conftest import SchoolWorld, client_for

pytestmark = pytest.mark.django_db


def _open_school(user: User, name: str = "Window School") -> tuple[Any, int]:
    """The user opens a school of their own, as anyone signed in may."""
    client = client_for(user)
    response = client.post("/api/schools/", {"name": name, "timezone": "Europe/Lisbon"}, format="json")
    assert response.status_code == 201, response.content
    return client, response.json()["id"]


def _texts(body: Any) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.add(value)

    walk(body)
    return found


def _token_from_mail(email: str) -> str:
    """The token of the last invitation mailed to ``email`` (the test runner keeps the outbox in memory)."""
    letters = [letter for letter in mail.outbox if email in letter.to]
    assert letters, f"no invitation was mailed to {email}"
    match = re.search(r"Token: (\S+)", letters[-1].body)
    assert match is not None
    return match.group(1)


# --- A self-made school is a window onto nobody. ---------------------------------------------------


def test_a_student_opening_a_school_and_adding_another_schools_owner_learns_nothing_and_enrols_nobody(
    world: SchoolWorld, other_world: SchoolWorld, django_capture_on_commit_callbacks: Any
) -> None:
    victim = other_world.owner
    client, school_id = _open_school(world.student.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/schools/{school_id}/members/", {"email": victim.email, "role": "teacher"}, format="json"
        )

    assert response.status_code == 201, response.content
    body = response.json()
    assert victim.full_name not in _texts(body)
    assert victim.pk not in {value for value in body.values() if isinstance(value, int)} - {body["id"], school_id}
    assert "user" not in body
    assert body["status"] == "pending"
    # Nobody joined: not in the victim's memberships, not in the new school's members, teachers or students.
    assert not Membership.objects.filter(user=victim, school_id=school_id).exists()
    me = client_for(victim).get("/api/me/").json()
    assert school_id not in [m["school_id"] for m in me["memberships"]]
    members = client.get(f"/api/schools/{school_id}/members/").json()["results"]
    assert [m["user"]["id"] for m in members] == [world.student.user.pk]
    assert client.get("/api/teachers/").json()["results"] == []
    # The letter with the token goes to the address, never to the inviter.
    assert [letter.to for letter in mail.outbox] == [[victim.email]]


def test_inviting_a_known_and_an_unknown_address_answers_alike_at_the_same_cost(world: SchoolWorld) -> None:
    known = f.UserFactory(email="known.person@example.test", full_name="Known Person")
    unknown = "nobody.yet@example.test"
    client, school_id = _open_school(world.guardian)
    url = f"/api/schools/{school_id}/members/"
    client.post(url, {"email": "warm.up@example.test", "role": "student"}, format="json")  # the roles cache fills

    answers, costs = [], []
    for email in (known.email, unknown):
        with CaptureQueriesContext(connection) as queries:
            response = client.post(url, {"email": email, "role": "student"}, format="json")
        assert response.status_code == 201, response.content
        answers.append(response.json())
        costs.append([q["sql"].replace(email, "<email>") for q in queries.captured_queries])

    def shape(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k not in ("id", "email", "created_at", "expires_at")}

    assert shape(answers[0]) == shape(answers[1])
    assert set(answers[0]) == set(answers[1])
    # The same statements: the work never depends on whether an account uses the address.
    strip_ids = [[re.sub(r"\b\d+\b|\"s\d+_x\d+\"", "N", sql) for sql in run] for run in costs]
    strip_ids = [[re.sub(r"'[^']*'", "'S'", sql) for sql in run] for run in strip_ids]
    assert strip_ids[0] == strip_ids[1]
    assert not any("accounts_user" in sql for run in costs for sql in run[2:]), "the invite looked an account up"
    # And no account is made for the unknown address until its owner accepts.
    assert not User.objects.filter(email=unknown).exists()
    assert not Student.objects.filter(school_id=school_id).exists()


def test_adding_another_schools_child_as_a_student_returns_no_name_and_enrols_no_one(
    world: SchoolWorld, other_world: SchoolWorld
) -> None:
    child = other_world.student
    client, school_id = _open_school(world.teacher.user)

    response = client.post(
        "/api/students/", {"school_id": school_id, "email": child.user.email, "full_name": "?"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert child.user.full_name not in _texts(response.json())
    assert not Student.objects.filter(school_id=school_id).exists()
    listed = client.get("/api/students/").json()["results"]
    assert child.pk not in [s["id"] for s in listed]
    assert school_id not in [s["school_id"] for s in listed]


def test_adding_another_schools_guardian_reveals_nothing(world: SchoolWorld, other_world: SchoolWorld) -> None:
    client, school_id = _open_school(world.other_teacher.user)
    # The new school needs a student to link a guardian to: its founder invites one, who accepts.
    pupil = f.UserFactory()
    client.post(f"/api/schools/{school_id}/members/", {"email": pupil.email, "role": "student"}, format="json")
    invitation = Invitation.objects.get(email=pupil.email)
    assert client_for(pupil).post(f"/api/invitations/{invitation.pk}/accept/").status_code == 200
    pupil_id = Student.objects.get(user=pupil, school_id=school_id).pk

    response = client.post(
        "/api/guardians/",
        {"school_id": school_id, "email": other_world.guardian.email, "student_ids": [pupil_id]},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert other_world.guardian.full_name not in _texts(response.json())
    assert "students" not in response.json()
    assert "name" not in response.json()
    assert not Membership.objects.filter(user=other_world.guardian, school_id=school_id).exists()
    assert other_world.guardian.pk not in [g["id"] for g in client.get("/api/guardians/").json()["results"]]


def test_only_the_invitee_accepts_and_only_by_their_own_email(world: SchoolWorld, other_world: SchoolWorld) -> None:
    client, school_id = _open_school(world.admin)
    client.post(
        f"/api/schools/{school_id}/members/", {"email": other_world.owner.email, "role": "admin"}, format="json"
    )
    invitation = Invitation.objects.get(email=other_world.owner.email)

    # The founder, or anyone else, cannot accept on the victim's behalf (404: not theirs).
    assert client.post(f"/api/invitations/{invitation.pk}/accept/").status_code == 404
    assert client_for(other_world.admin).post(f"/api/invitations/{invitation.pk}/accept/").status_code == 404
    assert not Membership.objects.filter(user=other_world.owner, school_id=school_id).exists()

    # The invitee sees it among theirs, and joins only by accepting.
    mine = client_for(other_world.owner).get("/api/invitations/").json()["results"]
    assert [item["id"] for item in mine] == [invitation.pk]
    assert client_for(other_world.owner).post(f"/api/invitations/{invitation.pk}/accept/").status_code == 200
    assert Membership.objects.filter(user=other_world.owner, school_id=school_id, role=Role.ADMIN).exists()


def test_the_token_makes_an_account_only_for_an_address_that_has_none(
    world: SchoolWorld, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/api/schools/{world.school.pk}/members/",
            {"email": "fresh@example.test", "role": "teacher"},
            format="json",
        )
        client.post(
            f"/api/schools/{world.school.pk}/members/",
            {"email": world.guardian.email, "role": "teacher"},
            format="json",
        )
    fresh_token = _token_from_mail("fresh@example.test")
    known_token = _token_from_mail(world.guardian.email)
    # Only the token's hash is stored.
    stored = set(Invitation.objects.values_list("token_hash", flat=True))
    assert fresh_token not in stored
    assert hashlib.sha256(fresh_token.encode()).hexdigest() in stored
    password_before = User.objects.get(pk=world.guardian.pk).password

    anonymous = client_for(None)
    taken = anonymous.post(
        "/api/invitations/accept/",
        {"token": known_token, "password": "a brand new secret 42", "full_name": "Mallory"},
        format="json",
    )
    made = anonymous.post(
        "/api/invitations/accept/",
        {"token": fresh_token, "password": "a brand new secret 42", "full_name": "Fresh Face"},
        format="json",
    )

    assert taken.status_code == 409, taken.content
    assert User.objects.get(pk=world.guardian.pk).password == password_before
    assert User.objects.get(pk=world.guardian.pk).full_name != "Mallory"
    assert made.status_code == 201, made.content
    fresh = User.objects.get(email="fresh@example.test")
    assert fresh.full_name == "Fresh Face"
    assert fresh.check_password("a brand new secret 42")
    assert Membership.objects.filter(user=fresh, school=world.school, role=Role.TEACHER, is_active=True).exists()
    # A token works once.
    again = anonymous.post(
        "/api/invitations/accept/", {"token": fresh_token, "password": "another secret 4242"}, format="json"
    )
    assert again.status_code == 400


# --- People belong to themselves; each school writes and reads only its own record. -------------------


def test_another_school_cannot_rewrite_what_a_teachers_school_reads(
    world: SchoolWorld, other_world: SchoolWorld
) -> None:
    teacher = world.teacher
    SchoolTeacher.objects.create(teacher=teacher, school=world.school, bio="Our maths lead.")
    away = client_for(other_world.owner)

    added = away.post(
        "/api/teachers/",
        {"school_id": other_world.school.pk, "email": teacher.user.email, "default_hourly_rate": "10.00"},
        format="json",
    )
    assert added.status_code == 201
    # Not theirs until the teacher accepts: invisible, so not writable.
    rewrite = away.patch(
        f"/api/teachers/{teacher.pk}/", {"bio": "Fired for cause.", "school_id": other_world.school.pk}, format="json"
    )
    assert rewrite.status_code == 404

    # Even once the teacher accepts, the other school writes only its own record of them.
    invitation = Invitation.objects.get(email=teacher.user.email, school=other_world.school)
    assert client_for(teacher.user).post(f"/api/invitations/{invitation.pk}/accept/").status_code == 200
    rewrite = away.patch(
        f"/api/teachers/{teacher.pk}/", {"bio": "Fired for cause.", "school_id": other_world.school.pk}, format="json"
    )
    assert rewrite.status_code == 200, rewrite.content
    home = client_for(world.admin).get(f"/api/teachers/{teacher.pk}/").json()
    assert "Fired for cause." not in _texts(home)
    assert [(s["id"], s["bio"]) for s in home["schools"]] == [(world.school.pk, "Our maths lead.")]
    # And naming the home school is refused: the other school does not run it.
    trespass = away.patch(
        f"/api/teachers/{teacher.pk}/", {"bio": "Fired for cause.", "school_id": world.school.pk}, format="json"
    )
    assert trespass.status_code == 400
    assert SchoolTeacher.objects.get(teacher=teacher, school=world.school).bio == "Our maths lead."


# --- Reach comes from the school's staff, not from the teacher. ------------------------------------------


def _book(client: Any, world: SchoolWorld, student: Student, **extra: Any) -> Any:
    data = {
        "school_id": world.school.pk,
        "teacher_id": world.teacher.pk,
        "subject_id": world.session.subject_id,
        "student_ids": [student.pk],
        "starts_at": (timezone.now() + timedelta(days=3)).isoformat(),
        "planned_duration_minutes": 720,
        **extra,
    }
    return client.post("/api/sessions/", data, format="json")


def test_a_teacher_cannot_book_then_cancel_their_way_to_a_student(world: SchoolWorld) -> None:
    target = world.other_student
    guardian = world.other_guardian
    client = client_for(world.teacher.user)

    booked = _book(client, world, target)

    assert booked.status_code == 400, booked.content
    assert "student_ids" in booked.json()["fields"]
    assert not Session.objects.filter(teacher=world.teacher, attendees__student=target).exists()
    assert client.get(f"/api/students/{target.pk}/progress/").status_code == 404
    assert client.get(f"/api/students/{target.pk}/").status_code == 404
    assert client.get(f"/api/guardians/{guardian.pk}/").status_code == 404
    assert guardian.email not in _texts(client.get("/api/guardians/").json())


def test_a_cancelled_session_grants_nothing_once_staff_end_the_assignment(world: SchoolWorld) -> None:
    """Staff booked the teacher with the student (an assignment), then ended it: the sessions, cancelled or
    not, keep nothing open."""
    target = world.other_student
    staff = client_for(world.admin)
    booked = _book(staff, world, target)
    assert booked.status_code == 201
    teacher = client_for(world.teacher.user)
    assert teacher.post(f"/api/sessions/{booked.json()['id']}/cancel/", {}, format="json").status_code == 200
    assert teacher.get(f"/api/students/{target.pk}/").status_code == 200  # still assigned: the staff's decision

    assignment = TeachingAssignment.objects.get(teacher=world.teacher, student=target)
    assert staff.delete(f"/api/assignments/{assignment.pk}/").status_code == 204

    assert teacher.get(f"/api/students/{target.pk}/").status_code == 404
    assert teacher.get(f"/api/students/{target.pk}/progress/").status_code == 404
    assert teacher.get(f"/api/guardians/{world.other_guardian.pk}/").status_code == 404
    assert _book(teacher, world, target).status_code == 400


def test_a_teacher_cannot_add_an_unassigned_student_to_their_session(world: SchoolWorld) -> None:
    client = client_for(world.teacher.user)

    response = client.patch(
        f"/api/sessions/{world.session.pk}/", {"student_ids": [world.student.pk, world.other_student.pk]}, format="json"
    )

    assert response.status_code == 400, response.content
    assert list(world.session.attendees.values_list("student_id", flat=True)) == [world.student.pk]
    assert client.get(f"/api/students/{world.other_student.pk}/").status_code == 404


def test_only_staff_assign_and_a_teacher_cannot_assign_themselves(world: SchoolWorld) -> None:
    target = world.other_student
    body = {"teacher_id": world.teacher.pk, "student_id": target.pk}

    by_teacher = client_for(world.teacher.user).post("/api/assignments/", body, format="json")
    by_other_school = client_for(f.member(school=f.SchoolFactory(), role=Role.OWNER)).post(
        "/api/assignments/", body, format="json"
    )
    by_admin = client_for(world.admin).post("/api/assignments/", body, format="json")

    assert by_teacher.status_code == 400  # a student they may not see is an unknown id
    assert by_other_school.status_code == 400
    assert by_admin.status_code == 201
    assert TeachingAssignment.objects.filter(teacher=world.teacher, student=target).count() == 1


def test_a_school_opened_by_a_teacher_gains_no_reach_over_their_home_students(world: SchoolWorld) -> None:
    """The teacher founds a school and invites their home school's student to it: the new school reaches the
    student only once they accept, and then only its own student record, never the home school's."""
    client, school_id = _open_school(world.teacher.user, name="Side School")
    invited = {"school_id": school_id, "email": world.other_student.user.email, "full_name": "Anyone"}
    assert client.post("/api/students/", invited, format="json").status_code == 201

    assert [s["id"] for s in client.get("/api/students/").json()["results"]] == [world.student.pk]
    assert client.get(f"/api/students/{world.other_student.pk}/progress/").status_code == 404
    assert School.objects.filter(pk=school_id).exists()
