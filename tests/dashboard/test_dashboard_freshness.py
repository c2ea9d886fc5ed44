"""A read after any write that changes the dashboard shows the change: never a stale cached page.

Each case warms the cache with a dashboard read, makes one write through the API, and reads again."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from chalkboard.earnings.models import EarningEntry
from chalkboard.people.models import TeacherRate
from chalkboard.scheduling.models import Session
from tests import factories as f
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def day(world):
    """The teacher has a session that started an hour ago and one tomorrow; the clock stands still."""
    now = timezone.now().replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        Session.objects.filter(pk=world.session.pk).update(starts_at=now - timedelta(hours=1))
        world.session.refresh_from_db()
        TeacherRate.objects.filter(teacher=world.teacher).update(hourly_rate=Decimal("40.00"))
        yield now


def dashboard(world):
    return client_for(world.teacher.user).get(f"/api/teachers/{world.teacher.pk}/dashboard/").json()


def complete(world, **extra):
    body = {
        "attendance": [{"student_id": world.student.pk, "status": "present"}],
        "actual_duration_minutes": 45,
        "notes": [],
        **extra,
    }
    return client_for(world.admin).post(f"/api/sessions/{world.session.pk}/complete/", body, format="json")


def assess(world, teacher, *, kind, score):
    """The teacher assesses the world's student, out of 10, in the subject of the world's session."""
    body = {
        "student_id": world.student.pk,
        "subject_id": world.session.subject_id,
        "kind": kind,
        "score": score,
        "max_score": "10",
    }
    return client_for(teacher.user).post("/api/assessments/", body, format="json")


def to_complete_ids(page):
    return [s["id"] for s in page["to_complete"]]


def test_completing_a_session(world, day):
    assert to_complete_ids(dashboard(world)) == [world.session.pk]

    assert complete(world).status_code == 200

    page = dashboard(world)
    assert to_complete_ids(page) == []
    assert page["earnings"]["pending"] == "30.00"
    assert page["stats"]["sessions_this_month"] == 1


def test_marking_a_no_show(world, day):
    dashboard(world)

    response = client_for(world.admin).post(f"/api/sessions/{world.session.pk}/no-show/", {}, format="json")

    assert response.status_code == 200
    page = dashboard(world)
    assert to_complete_ids(page) == []
    assert page["stats"]["no_shows_this_month"] == 1


def test_amending_a_completed_session(world, day):
    complete(world)
    assert dashboard(world)["earnings"]["pending"] == "30.00"

    body = {"attendance": [{"student_id": world.student.pk, "status": "late"}], "actual_duration_minutes": 60}
    assert (
        client_for(world.admin).put(f"/api/sessions/{world.session.pk}/complete/", body, format="json").status_code
        == 200
    )

    assert dashboard(world)["earnings"]["pending"] == "40.00"


def test_booking_rescheduling_and_cancelling(world, day):
    client = client_for(world.admin)
    dashboard(world)
    booked = client.post(
        "/api/sessions/",
        {
            "school_id": world.school.pk,
            "teacher_id": world.teacher.pk,
            "subject_id": world.session.subject_id,
            "student_ids": [world.student.pk],
            "starts_at": (day + timedelta(days=2)).isoformat(),
            "planned_duration_minutes": 30,
        },
        format="json",
    ).json()
    assert booked["id"] in [s["id"] for s in dashboard(world)["upcoming"]]

    later = (day + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    assert client.patch(f"/api/sessions/{booked['id']}/", {"starts_at": later}, format="json").status_code == 200
    moved = next(s for s in dashboard(world)["upcoming"] if s["id"] == booked["id"])
    assert moved["starts_at"] == later

    assert client.post(f"/api/sessions/{booked['id']}/cancel/", {}, format="json").status_code == 200
    cancelled = next(s for s in dashboard(world)["upcoming"] if s["id"] == booked["id"])
    assert cancelled["status"] == "cancelled"


def test_adding_an_assessment(world, day):
    assert dashboard(world)["recent_assessments"] == []

    response = assess(world, world.teacher, kind="quiz", score="7")

    assert response.status_code == 201
    page = dashboard(world)
    assert [a["percentage"] for a in page["recent_assessments"]] == ["70.00"]
    assert page["stats"]["average_assessment_percentage"] == "70.00"


def test_another_teachers_assessment_of_a_shared_student(world, day):
    """The student's standing is the student's, whoever assessed them: the dashboard of every teacher of the
    student shows the new figure at once, not only the assessing teacher's."""
    f.session_for(world.other_teacher, world.student, starts_at=day - timedelta(days=2))
    student_of = {row["id"]: row for row in dashboard(world)["students"]["results"]}
    assert student_of[world.student.pk]["progress_percentage"] is None

    response = assess(world, world.other_teacher, kind="test", score="4")

    assert response.status_code == 201
    page = dashboard(world)
    student_of = {row["id"]: row for row in page["students"]["results"]}
    assert student_of[world.student.pk]["progress_percentage"] == "40.00"
    assert page["recent_assessments"] == []  # the other teacher's assessment is theirs, not this teacher's


def test_approving_and_paying(world, day):
    complete(world)
    entry = EarningEntry.objects.get()
    client = client_for(world.admin)
    assert dashboard(world)["earnings"]["pending"] == "30.00"

    approve = {"school_id": world.school.pk, "entry_ids": [entry.pk]}
    assert client.post("/api/earnings/approve/", approve, format="json").status_code == 200
    assert dashboard(world)["earnings"]["approved"] == "30.00"

    payout = {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [entry.pk]}
    assert client.post("/api/payouts/", payout, format="json").status_code == 201
    earnings = dashboard(world)["earnings"]
    assert (earnings["approved"], earnings["paid"]) == ("0.00", "30.00")


def test_renaming_the_school(world, day):
    dashboard(world)

    response = client_for(world.admin).patch(
        f"/api/schools/{world.school.pk}/", {"name": "Porto Tutors"}, format="json"
    )

    assert response.status_code == 200
    assert dashboard(world)["school"]["name"] == "Porto Tutors"


def test_adding_a_student_to_a_session(world, day):
    other = f.student_in(world.school)
    assert [s["id"] for s in dashboard(world)["to_complete"][0]["students"]] == [world.student.pk]

    add = {"student_ids": [world.student.pk, other.pk]}
    assert client_for(world.admin).patch(f"/api/sessions/{world.session.pk}/", add, format="json").status_code == 200

    page = dashboard(world)
    assert [s["id"] for s in page["to_complete"][0]["students"]] == [world.student.pk, other.pk]
    assert other.pk in [s["id"] for s in page["students"]["results"]]


def test_revoking_the_teacher_role(world, day):
    owner = client_for(world.owner)
    assert owner.get(f"/api/teachers/{world.teacher.pk}/dashboard/").status_code == 200

    response = owner.delete(f"/api/teachers/{world.teacher.pk}/?school={world.school.pk}")

    assert response.status_code == 204
    assert owner.get(f"/api/teachers/{world.teacher.pk}/dashboard/").status_code == 404
