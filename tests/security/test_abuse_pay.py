"""The abuse suite for pay: what a teacher could make themselves earn without anyone standing behind it, and
the ledger's edges (negative payouts, untruthful adjustments, amendments that change nothing, fake zones).

Every test here failed before the fix it pins.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from chalkboard.activity.models import ActivityLog
from chalkboard.common.cache import teacher_scope, versions_get
from chalkboard.common.errors import ValidationFailed
from chalkboard.earnings.models import EarningEntry, EarningKind, Payout
from chalkboard.earnings.services import earning_record_for_session
from chalkboard.people.models import TeacherRate
from chalkboard.realtime.models import Event
from chalkboard.scheduling.models import Session, SessionStudent
from chalkboard.schools.models import School
from tests import factories as f
from tests.conftest import SchoolWorld, client_for

pytestmark = pytest.mark.django_db

SESSIONS = "/api/sessions/"
ENTRIES = "/api/earnings/entries/"
APPROVE = "/api/earnings/approve/"
REVIEW = "/api/earnings/review/"
PAYOUTS = "/api/payouts/"


def complete_url(session_id: int) -> str:
    return f"/api/sessions/{session_id}/complete/"


def attendance(session_id: int) -> list[dict[str, object]]:
    seats = SessionStudent.objects.filter(session_id=session_id).order_by("id")
    return [{"student_id": seat.student_id, "status": "present"} for seat in seats]


def book(world: SchoolWorld, *, starts_at: str, minutes: int = 60) -> int:
    """The teacher books a session for themselves, as the API lets them."""
    response = client_for(world.teacher.user).post(
        SESSIONS,
        {
            "school_id": world.school.pk,
            "teacher_id": world.teacher.pk,
            "subject_id": world.session.subject_id,
            "student_ids": [world.student.pk],
            "starts_at": starts_at,
            "planned_duration_minutes": minutes,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def complete(world: SchoolWorld, session_id: int, *, minutes: int, by=None) -> dict:
    client = client_for(by or world.teacher.user)
    response = client.post(
        complete_url(session_id),
        {"attendance": attendance(session_id), "actual_duration_minutes": minutes},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def recent_session(world: SchoolWorld, *, minutes: int = 60) -> Session:
    return f.session_for(
        world.teacher,
        world.student,
        subject=world.session.subject,
        starts_at=timezone.now() - timedelta(hours=2),
        minutes=minutes,
    )


# --- A teacher cannot invent pay ---------------------------------------------------------------------------


def test_a_session_booked_in_1970_and_completed_with_twelve_hours_is_held_not_pending(world):
    session_id = book(world, starts_at="1970-01-01T00:00:00Z")

    body = complete(world, session_id, minutes=720)

    entry = EarningEntry.objects.get(session_id=session_id)
    assert (entry.status, entry.amount) == ("held", Decimal("360.00"))
    assert "days after the session started" in entry.hold_reason
    assert "720 minutes on a 60-minute plan" in entry.hold_reason
    assert (body["earning"]["status"], body["earning"]["hold_reason"]) == ("held", entry.hold_reason)
    # The owner finds it as held whatever its date, and cannot approve or pay it as it is.
    owner = client_for(world.owner)
    held = owner.get(ENTRIES, {"school": world.school.pk, "status": "held"}).json()["results"]
    assert [(row["id"], row["status"], row["hold_reason"]) for row in held] == [(entry.pk, "held", entry.hold_reason)]
    approve = owner.post(APPROVE, {"school_id": world.school.pk, "entry_ids": [entry.pk]}, format="json")
    pay = owner.post(
        PAYOUTS,
        {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [entry.pk]},
        format="json",
    )
    assert (approve.status_code, pay.status_code) == (400, 409)
    assert EarningEntry.objects.get(pk=entry.pk).status == "held"
    assert not Payout.objects.exists()


def test_a_duration_far_beyond_the_plan_is_held_even_for_a_session_of_today(world):
    within = complete(world, recent_session(world).pk, minutes=90)  # 30 minutes over: the default bound
    beyond = complete(world, recent_session(world).pk, minutes=91)

    assert within["earning"]["status"] == "pending"
    assert within["earning"]["hold_reason"] == ""
    assert beyond["earning"]["status"] == "held"
    assert beyond["earning"]["hold_reason"] == (
        "91 minutes on a 60-minute plan; the school reviews anything more than 30 minutes over the plan."
    )


def test_a_pending_entry_amended_beyond_the_bounds_is_held(world):
    session = recent_session(world)
    complete(world, session.pk, minutes=60)

    response = client_for(world.teacher.user).put(
        complete_url(session.pk), {"actual_duration_minutes": 720}, format="json"
    )

    assert response.status_code == 200
    entry = EarningEntry.objects.get(session=session)
    assert (entry.status, entry.amount, entry.minutes) == ("held", Decimal("360.00"), 720)


def test_an_increase_claimed_by_amending_an_approved_entry_is_a_held_adjustment(world):
    session = recent_session(world)
    complete(world, session.pk, minutes=60)
    entry = EarningEntry.objects.get(session=session)
    client_for(world.owner).post(APPROVE, {"school_id": world.school.pk, "entry_ids": [entry.pk]}, format="json")

    client_for(world.teacher.user).put(complete_url(session.pk), {"actual_duration_minutes": 720}, format="json")

    adjustment = EarningEntry.objects.get(kind="adjustment")
    assert (adjustment.status, adjustment.amount) == ("held", Decimal("330.00"))


def test_held_pay_shows_as_held_on_the_teachers_dashboard_and_earnings(world):
    session = recent_session(world)
    complete(world, session.pk, minutes=720)
    teacher = client_for(world.teacher.user)

    dashboard = teacher.get(f"/api/teachers/{world.teacher.pk}/dashboard/").json()["earnings"]
    summary = client_for(world.owner).get(f"/api/teachers/{world.teacher.pk}/earnings/").json()

    assert (dashboard["held"], dashboard["pending"], dashboard["this_month"]) == ("360.00", "0.00", "0.00")
    assert (summary["totals"]["held"], summary["totals"]["pending"], summary["totals"]["earned"]) == (
        "360.00",
        "0.00",
        "0.00",
    )
    assert summary["awaiting_review"] == {"entries": 1, "amount": "360.00"}


def test_held_pay_dated_1970_is_counted_as_awaiting_review_outside_the_range(world):
    complete(world, book(world, starts_at="1970-01-01T00:00:00Z"), minutes=60)

    summary = client_for(world.owner).get(f"/api/teachers/{world.teacher.pk}/earnings/").json()

    assert summary["totals"]["held"] == "0.00"  # 1970 is outside the default range...
    assert summary["awaiting_review"] == {"entries": 1, "amount": "30.00"}  # ...but never out of sight


def test_only_staff_release_or_reject_held_pay(world):
    released = recent_session(world)
    rejected = recent_session(world)
    complete(world, released.pk, minutes=300)
    complete(world, rejected.pk, minutes=720)
    to_release = EarningEntry.objects.get(session=released)
    to_reject = EarningEntry.objects.get(session=rejected)

    by_teacher = client_for(world.teacher.user).post(
        REVIEW,
        {"school_id": world.school.pk, "entry_ids": [to_release.pk], "decision": "release"},
        format="json",
    )
    release = client_for(world.admin).post(
        REVIEW,
        {"school_id": world.school.pk, "entry_ids": [to_release.pk], "decision": "release"},
        format="json",
    )
    reject = client_for(world.owner).post(
        REVIEW,
        {"school_id": world.school.pk, "entry_ids": [to_reject.pk], "decision": "reject", "reason": "No."},
        format="json",
    )

    assert by_teacher.status_code == 403
    assert release.status_code == 200
    assert [row["status"] for row in release.json()["entries"]] == ["pending"]
    assert reject.status_code == 200
    assert [row["status"] for row in reject.json()["entries"]] == ["rejected"]
    assert EarningEntry.objects.get(pk=to_release.pk).status == "pending"
    assert EarningEntry.objects.get(pk=to_reject.pk).status == "rejected"
    decisions = ActivityLog.objects.filter(verb__in=["earnings.released", "earnings.rejected"]).order_by("id")
    assert [(log.verb, log.actor_id, log.data["entry_ids"]) for log in decisions] == [
        ("earnings.released", world.admin.pk, [to_release.pk]),
        ("earnings.rejected", world.owner.pk, [to_reject.pk]),
    ]
    assert decisions[1].data["reason"] == "No."


def test_a_paid_session_cannot_be_amended_after_the_schools_window(world, clock):
    session = recent_session(world)
    complete(world, session.pk, minutes=60)
    entry = EarningEntry.objects.get(session=session)
    owner = client_for(world.owner)
    owner.post(APPROVE, {"school_id": world.school.pk, "entry_ids": [entry.pk]}, format="json")
    paid = owner.post(
        PAYOUTS, {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [entry.pk]}, format="json"
    )
    assert paid.status_code == 201
    clock.shift(timedelta(days=31))

    response = client_for(world.teacher.user).put(
        complete_url(session.pk), {"actual_duration_minutes": 59}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "amend_window_closed"
    assert response.json()["message"] == (
        "This session was paid more than 30 days ago: the school no longer accepts amendments to it."
    )
    fresh = Session.objects.get(pk=session.pk)
    assert (fresh.actual_duration_minutes, fresh.version) == (60, 2)
    assert not EarningEntry.objects.filter(kind="adjustment").exists()


# --- The ledger's edges ------------------------------------------------------------------------------------


def approved_negative_adjustment(world: SchoolWorld) -> EarningEntry:
    session = recent_session(world)
    complete(world, session.pk, minutes=60)
    entry = EarningEntry.objects.get(session=session)
    owner = client_for(world.owner)
    owner.post(APPROVE, {"school_id": world.school.pk, "entry_ids": [entry.pk]}, format="json")
    owner.post(PAYOUTS, {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [entry.pk]})
    client_for(world.teacher.user).put(complete_url(session.pk), {"actual_duration_minutes": 1}, format="json")
    adjustment = EarningEntry.objects.get(kind="adjustment")
    owner.post(APPROVE, {"school_id": world.school.pk, "entry_ids": [adjustment.pk]}, format="json")
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.amount) == ("approved", Decimal("-29.50"))
    return adjustment


def test_a_payout_below_zero_is_refused(world):
    adjustment = approved_negative_adjustment(world)

    response = client_for(world.owner).post(
        PAYOUTS,
        {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [adjustment.pk]},
        format="json",
    )

    assert response.status_code == 409
    assert response.json() == {
        "status": 409,
        "code": "payout_negative",
        "message": "A payout cannot be below zero: these entries add up to -29.50.",
    }
    assert EarningEntry.objects.get(pk=adjustment.pk).status == "approved"
    assert Payout.objects.count() == 1


def test_an_adjustment_says_how_many_minutes_the_session_had_before_this_amendment(world):
    session = recent_session(world)
    complete(world, session.pk, minutes=90, by=world.owner)
    original = EarningEntry.objects.get(session=session)
    owner = client_for(world.owner)
    owner.post(APPROVE, {"school_id": world.school.pk, "entry_ids": [original.pk]}, format="json")
    owner.put(complete_url(session.pk), {"actual_duration_minutes": 1}, format="json")
    first = EarningEntry.objects.get(kind="adjustment")
    owner.post(APPROVE, {"school_id": world.school.pk, "entry_ids": [first.pk]}, format="json")

    owner.put(complete_url(session.pk), {"actual_duration_minutes": 90}, format="json")

    descriptions = list(
        EarningEntry.objects.filter(kind="adjustment").order_by("id").values_list("description", flat=True)
    )
    assert descriptions == [
        f"Adjustment of entry {original.pk}: 90 → 1 minutes",
        f"Adjustment of entry {original.pk}: 1 → 90 minutes",
    ]


def test_an_amendment_that_changes_nothing_writes_nothing(world):
    session = recent_session(world)
    complete(world, session.pk, minutes=47)
    before = Session.objects.get(pk=session.pk)
    events, logs = Event.objects.count(), ActivityLog.objects.count()
    versions = versions_get([teacher_scope(world.teacher.pk, world.school.pk)])

    response = client_for(world.teacher.user).put(
        complete_url(session.pk), {"attendance": attendance(session.pk), "actual_duration_minutes": 47}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["version"] == before.version
    after = Session.objects.get(pk=session.pk)
    assert (after.version, after.updated_at) == (before.version, before.updated_at)
    assert (Event.objects.count(), ActivityLog.objects.count()) == (events, logs)
    assert versions_get([teacher_scope(world.teacher.pk, world.school.pk)]) == versions
    assert not EarningEntry.objects.filter(kind="adjustment").exists()


@pytest.mark.parametrize("zone", ["localtime", "Factory"])
def test_a_school_time_zone_must_be_a_real_iana_zone(world, zone):
    client = client_for(world.owner)

    created = client.post("/api/schools/", {"name": "Nowhere", "timezone": zone}, format="json")
    updated = client.patch(f"/api/schools/{world.school.pk}/", {"timezone": zone}, format="json")

    assert (created.status_code, updated.status_code) == (400, 400)
    assert created.json()["fields"] == {"timezone": ["Not an IANA time zone (for example Europe/Lisbon)."]}
    assert not School.objects.filter(name="Nowhere").exists()
    assert School.objects.get(pk=world.school.pk).timezone == "Europe/Lisbon"


def test_pay_that_does_not_fit_its_column_is_a_400_not_a_database_error(world):
    """The API bounds durations (720 minutes) and rates (ten digits), which keeps every amount within its
    column; the ledger checks anyway, for any caller: the top rate times a huge duration is refused."""
    TeacherRate.objects.filter(teacher=world.teacher).update(hourly_rate=Decimal("99999999.99"))
    session = recent_session(world)

    with pytest.raises(ValidationFailed) as refused:
        earning_record_for_session(session=session, kind=EarningKind.SESSION, minutes=1_000_000)

    assert refused.value.code == "amount_too_large"
    assert refused.value.message == (
        "An earning entry's amount must have at most 10 digits before the decimal point and 2 after."
    )
    assert not EarningEntry.objects.exists()
