"""Held pay and the school's decisions on it; the rules around held, rejected and negative entries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from chalkboard.common.errors import Conflict
from chalkboard.earnings.models import EarningEntry, Payout, ReviewDecision
from chalkboard.earnings.services import (
    earning_hold_reason,
    earnings_approve,
    earnings_review,
    payout_create,
)
from chalkboard.realtime.models import Event
from chalkboard.scheduling.models import Session, SessionStudent
from chalkboard.schools.access import Viewer
from tests import factories as f
from tests.conftest import SchoolWorld, client_for

pytestmark = pytest.mark.django_db

REVIEW = "/api/earnings/review/"


def started(world: SchoolWorld, *, days_ago: float = 0, minutes: int = 60) -> Session:
    starts_at = timezone.now() - timedelta(days=days_ago, hours=2)
    return f.session_for(
        world.teacher, world.student, subject=world.session.subject, starts_at=starts_at, minutes=minutes
    )


def complete(world: SchoolWorld, session: Session, *, minutes: int, by=None) -> EarningEntry:
    seats = SessionStudent.objects.filter(session=session)
    response = client_for(by or world.teacher.user).post(
        f"/api/sessions/{session.pk}/complete/",
        {
            "attendance": [{"student_id": seat.student_id, "status": "present"} for seat in seats],
            "actual_duration_minutes": minutes,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    return EarningEntry.objects.get(session=session, kind="session")


def amend(world: SchoolWorld, session: Session, *, minutes: int, by=None):
    return client_for(by or world.teacher.user).put(
        f"/api/sessions/{session.pk}/complete/", {"actual_duration_minutes": minutes}, format="json"
    )


def adjustments(session: Session) -> list[tuple[Decimal, str]]:
    rows = EarningEntry.objects.filter(session=session, kind="adjustment").order_by("id")
    return [(entry.amount, entry.status) for entry in rows]


# --- When pay is held -------------------------------------------------------------------------------------


def test_the_schools_own_bounds_decide_what_is_held(world):
    world.school.late_claim_days, world.school.overrun_minutes = 2, 0
    world.school.save()

    on_time = complete(world, started(world, days_ago=1.9), minutes=60)
    late = complete(world, started(world, days_ago=2.1), minutes=60)
    over = complete(world, started(world), minutes=61)

    assert (on_time.status, late.status, over.status) == ("pending", "held", "held")
    assert late.hold_reason == (
        "Claimed 2 days after the session started; the school reviews claims made more than 2 days after."
    )


def test_pay_the_schools_owners_and_admins_write_themselves_is_never_held(world):
    owner_entry = complete(world, started(world, days_ago=400), minutes=720, by=world.owner)
    admin_entry = complete(world, started(world, days_ago=400), minutes=720, by=world.admin)

    assert (owner_entry.status, owner_entry.hold_reason) == ("pending", "")
    assert admin_entry.status == "pending"


def test_a_no_show_marked_late_by_the_teacher_is_held(world):
    session = started(world, days_ago=20)

    response = client_for(world.teacher.user).post(f"/api/sessions/{session.pk}/no-show/", {}, format="json")

    assert response.status_code == 200
    assert response.json()["earning"]["status"] == "held"
    assert EarningEntry.objects.get(session=session).status == "held"


def test_less_pay_is_never_held(world):
    session = started(world)
    entry = complete(world, session, minutes=720)
    # a held entry stays held until the school decides, even when the teacher asks for less
    amend(world, session, minutes=60)
    entry.refresh_from_db()
    assert (entry.status, entry.amount) == ("held", Decimal("30.00"))
    earnings_review(
        viewer=Viewer.for_user(world.owner), school=world.school, entry_ids=[entry.pk], decision=ReviewDecision.RELEASE
    )
    earnings_approve(viewer=Viewer.for_user(world.owner), school=world.school, entry_ids=[entry.pk])

    amend(world, session, minutes=30)  # less than approved: a negative adjustment, not held

    assert adjustments(session) == [(Decimal("-15.00"), "pending")]


def test_staff_amending_a_held_entry_recompute_it_and_it_stays_held(world):
    session = started(world)
    entry = complete(world, session, minutes=720)

    response = amend(world, session, minutes=75, by=world.admin)

    assert response.status_code == 200
    entry.refresh_from_db()
    assert (entry.status, entry.amount, entry.minutes) == ("held", Decimal("37.50"), 75)
    assert "720 minutes on a 60-minute plan" in entry.hold_reason  # why it was held stays on record


def test_a_hold_reason_names_every_reason(world):
    session = started(world, days_ago=30)

    reason = earning_hold_reason(session=session, minutes=120, now=timezone.now())

    assert reason.startswith("Claimed 30 days after the session started;")
    assert reason.endswith(
        "120 minutes on a 60-minute plan; the school reviews anything more than 30 minutes over the plan."
    )


# --- Deciding --------------------------------------------------------------------------------------------------


def test_only_held_entries_of_the_school_can_be_decided(world, other_world):
    held = complete(world, started(world), minutes=720)
    pending = complete(world, started(world), minutes=60)
    foreign = f.session_for(other_world.teacher, other_world.student, starts_at=timezone.now() - timedelta(hours=2))
    foreign_held = complete(other_world, foreign, minutes=720)

    response = client_for(world.owner).post(
        REVIEW,
        {"school_id": world.school.pk, "entry_ids": [held.pk, pending.pk, foreign_held.pk], "decision": "release"},
        format="json",
    )

    assert response.status_code == 400
    message = f"These entries are unknown or not held for review in this school: {pending.pk}, {foreign_held.pk}."
    assert response.json()["fields"] == {"entry_ids": [message]}
    assert EarningEntry.objects.get(pk=held.pk).status == "held"
    assert EarningEntry.objects.get(pk=foreign_held.pk).status == "held"


def test_a_released_entry_is_approved_and_paid_as_usual_and_a_rejected_one_never(world):
    kept, refused = complete(world, started(world), minutes=90 + 60), complete(world, started(world), minutes=720)
    owner = client_for(world.owner)
    Event.objects.all().delete()

    release = owner.post(
        REVIEW, {"school_id": world.school.pk, "entry_ids": [kept.pk], "decision": "release"}, format="json"
    )
    owner.post(REVIEW, {"school_id": world.school.pk, "entry_ids": [refused.pk], "decision": "reject"}, format="json")

    assert (release.json()["entries"][0]["status"], release.json()["entries"][0]["hold_reason"]) == (
        "pending",
        kept.hold_reason,
    )
    assert [(event.type, event.data["entry_ids"]) for event in Event.objects.order_by("id")] == [
        ("earnings.updated", [kept.pk]),
        ("earnings.updated", [refused.pk]),
    ]
    approve = owner.post(
        "/api/earnings/approve/", {"school_id": world.school.pk, "entry_ids": [kept.pk, refused.pk]}, format="json"
    )
    assert approve.status_code == 400  # the rejected one is not pending: nothing is approved
    earnings_approve(viewer=Viewer.for_user(world.owner), school=world.school, entry_ids=[kept.pk])
    payout = payout_create(
        viewer=Viewer.for_user(world.owner), school=world.school, teacher_id=world.teacher.pk, entry_ids=[kept.pk]
    )
    assert payout.amount == Decimal("75.00")
    with pytest.raises(Conflict):
        payout_create(
            viewer=Viewer.for_user(world.owner),
            school=world.school,
            teacher_id=world.teacher.pk,
            entry_ids=[refused.pk],
        )
    assert EarningEntry.objects.get(pk=refused.pk).status == "rejected"


def approved_then_amended(world: SchoolWorld, *minutes: int) -> tuple[Session, EarningEntry]:
    """A session completed with 60 minutes and approved, then amended by its teacher to each of ``minutes``."""
    session = started(world)
    original = complete(world, session, minutes=60)
    earnings_approve(viewer=Viewer.for_user(world.owner), school=world.school, entry_ids=[original.pk])
    for value in minutes:
        assert amend(world, session, minutes=value).status_code == 200
    return session, original


def test_a_held_adjustment_a_later_amendment_built_on_can_only_be_released(world):
    # 60 -> 720: +330.00 held; 720 -> 90: -315.00, computed on top of the held one
    session, _ = approved_then_amended(world, 720, 90)
    held = EarningEntry.objects.filter(session=session, kind="adjustment").earliest("id")
    assert adjustments(session) == [(Decimal("330.00"), "held"), (Decimal("-315.00"), "pending")]

    client = client_for(world.owner)
    reject = client.post(
        REVIEW, {"school_id": world.school.pk, "entry_ids": [held.pk], "decision": "reject"}, format="json"
    )
    release = client.post(
        REVIEW, {"school_id": world.school.pk, "entry_ids": [held.pk], "decision": "release"}, format="json"
    )

    assert reject.status_code == 409
    assert reject.json()["code"] == "review_built_upon"
    assert (release.status_code, EarningEntry.objects.get(pk=held.pk).status) == (200, "pending")
    # 30.00 + 330.00 - 315.00 = 45.00: what 90 minutes pay
    assert sum(EarningEntry.objects.filter(session=session).values_list("amount", flat=True)) == Decimal("45.00")


def test_held_adjustments_rejected_together_leave_what_was_approved(world):
    # 60 -> 200: +70.00 held; 200 -> 720: +260.00 held
    session, original = approved_then_amended(world, 200, 720)
    ids = list(EarningEntry.objects.filter(session=session, kind="adjustment").values_list("pk", flat=True))

    earnings_review(
        viewer=Viewer.for_user(world.admin), school=world.school, entry_ids=ids, decision=ReviewDecision.REJECT
    )

    assert adjustments(session) == [(Decimal("70.00"), "rejected"), (Decimal("260.00"), "rejected")]
    # the next amendment counts from what stands: 90 minutes is 45.00, 15.00 more than the approved 30.00
    amend(world, session, minutes=90)
    newest = EarningEntry.objects.filter(session=session, kind="adjustment").latest("id")
    assert (newest.amount, newest.minutes, newest.status) == (Decimal("15.00"), 30, "pending")
    assert newest.description == f"Adjustment of entry {original.pk}: 720 → 90 minutes"


def test_a_rejected_session_entry_is_final(world):
    session = started(world)
    entry = complete(world, session, minutes=720)
    earnings_review(
        viewer=Viewer.for_user(world.owner), school=world.school, entry_ids=[entry.pk], decision=ReviewDecision.REJECT
    )

    response = amend(world, session, minutes=60)

    assert response.status_code == 200
    assert response.json()["earning"]["status"] == "rejected"
    assert list(EarningEntry.objects.filter(session=session).values_list("status", "amount")) == [
        ("rejected", Decimal("360.00"))
    ]


# --- Payouts are never below zero --------------------------------------------------------------------------------


def test_a_negative_adjustment_is_paid_with_enough_positive_pay_down_to_zero(world):
    session, original = approved_then_amended(world, 1)  # -29.50
    negative = EarningEntry.objects.get(session=session, kind="adjustment")
    other = complete(world, started(world), minutes=59)  # 29.50
    earnings_approve(viewer=Viewer.for_user(world.owner), school=world.school, entry_ids=[negative.pk, other.pk])

    with pytest.raises(Conflict) as refused:
        payout_create(
            viewer=Viewer.for_user(world.owner),
            school=world.school,
            teacher_id=world.teacher.pk,
            entry_ids=[negative.pk],
        )
    payout = payout_create(
        viewer=Viewer.for_user(world.owner),
        school=world.school,
        teacher_id=world.teacher.pk,
        entry_ids=[negative.pk, other.pk],
    )

    assert refused.value.code == "payout_negative"
    assert payout.amount == Decimal("0.00")
    assert set(payout.entries.values_list("pk", flat=True)) == {negative.pk, other.pk}
    assert Payout.objects.count() == 1
    assert EarningEntry.objects.get(pk=original.pk).status == "approved"


# --- Amending after payout ---------------------------------------------------------------------------------------


def paid_session(world: SchoolWorld) -> Session:
    session = started(world)
    entry = complete(world, session, minutes=60)
    earnings_approve(viewer=Viewer.for_user(world.owner), school=world.school, entry_ids=[entry.pk])
    payout_create(
        viewer=Viewer.for_user(world.owner), school=world.school, teacher_id=world.teacher.pk, entry_ids=[entry.pk]
    )
    return session


def test_within_the_window_a_paid_session_is_amended_and_past_it_by_no_one(world, clock):
    session = paid_session(world)
    clock.shift(timedelta(days=29))
    assert amend(world, session, minutes=65).status_code == 200
    clock.shift(timedelta(days=2))  # 31 days after the payout

    by_owner = amend(world, session, minutes=70, by=world.owner)
    attendance_only = client_for(world.teacher.user).put(
        f"/api/sessions/{session.pk}/complete/",
        {"attendance": [{"student_id": world.student.pk, "status": "late"}]},
        format="json",
    )
    unchanged = amend(world, session, minutes=65)

    assert (by_owner.status_code, attendance_only.status_code) == (409, 409)
    assert SessionStudent.objects.get(session=session).attendance == "present"
    assert unchanged.status_code == 200  # the same data again changes nothing, so nothing is refused
    assert Session.objects.get(pk=session.pk).actual_duration_minutes == 65


def test_a_school_with_no_window_closes_paid_sessions_at_once(world):
    world.school.paid_amend_days = 0
    world.school.save()
    session = paid_session(world)

    response = amend(world, session, minutes=61, by=world.owner)

    assert response.status_code == 409
    assert response.json()["message"] == (
        "This session was paid more than 0 days ago: the school no longer accepts amendments to it."
    )
