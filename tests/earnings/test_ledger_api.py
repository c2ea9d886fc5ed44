"""The ledger's entries, approvals and payouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from chalkboard.activity.models import ActivityLog
from chalkboard.common.models import IdempotencyRecord
from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.realtime.models import Event
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 10, 12, tzinfo=UTC)
LISBON = ZoneInfo("Europe/Lisbon")
ENTRIES = "/api/earnings/entries/"
APPROVE = "/api/earnings/approve/"
PAYOUTS = "/api/payouts/"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def entry(world, teacher=None, *, amount="10.00", status="pending", earned_at=None, **fields):
    return EarningEntry.objects.create(
        school=world.school,
        teacher=teacher or world.teacher,
        amount=Decimal(amount),
        currency=world.school.currency,
        minutes=20,
        hourly_rate=Decimal("30.00"),
        earned_at=earned_at or NOW - timedelta(days=1),
        status=status,
        **fields,
    )


def ids(response):
    return [row["id"] for row in response.json()["results"]]


# --- Entries -----------------------------------------------------------------------------------------------------


@pytest.fixture
def ledger(world, other_world):
    return {
        "mine": entry(world, amount="12.50"),
        "colleague": entry(world, world.other_teacher, status="approved"),
        "elsewhere": entry(other_world, other_world.teacher, amount="1000"),
    }


def test_staff_see_their_schools_entries(world, ledger):
    response = client_for(world.owner).get(ENTRIES)

    assert response.status_code == 200
    assert sorted(ids(response)) == sorted([ledger["mine"].pk, ledger["colleague"].pk])
    mine = next(row for row in response.json()["results"] if row["id"] == ledger["mine"].pk)
    assert mine == {
        "id": ledger["mine"].pk,
        "school_id": world.school.pk,
        "teacher": {"id": world.teacher.pk, "name": world.teacher.user.full_name},
        "session_id": None,
        "kind": "session",
        "status": "pending",
        "amount": "12.50",
        "currency": "EUR",
        "minutes": 20,
        "hourly_rate": "30.00",
        "earned_at": "2026-04-09T12:00:00Z",
        "description": "",
        "hold_reason": "",
        "approved_at": None,
        "payout_id": None,
        "adjusts_id": None,
    }


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("teacher", ["mine"]),
        ("other_teacher", ["colleague"]),
        ("student", []),
        ("guardian", []),
        ("other_student", []),
        ("other_guardian", []),
    ],
)
def test_others_see_only_their_own_entries(world, ledger, role, expected):
    response = client_for(world.user(role)).get(ENTRIES)

    assert response.status_code == 200
    assert ids(response) == [ledger[name].pk for name in expected]
    assert response.json()["count"] == len(expected)


def test_another_schools_owner_sees_only_their_school(world, other_world, ledger):
    assert ids(client_for(other_world.owner).get(ENTRIES)) == [ledger["elsewhere"].pk]
    assert ids(client_for(other_world.owner).get(f"{ENTRIES}?school={world.school.pk}")) == []


def test_anonymous_gets_401(api_client):
    assert api_client.get(ENTRIES).status_code == 401
    assert api_client.get(PAYOUTS).status_code == 401
    assert api_client.post(APPROVE, {}, format="json").status_code == 401
    assert api_client.post(PAYOUTS, {}, format="json").status_code == 401


def test_entry_filters(world, ledger):
    client = client_for(world.owner)
    mine, colleague = ledger["mine"], ledger["colleague"]

    assert ids(client.get(f"{ENTRIES}?status=approved")) == [colleague.pk]
    assert ids(client.get(f"{ENTRIES}?teacher={world.teacher.pk}")) == [mine.pk]
    assert ids(client.get(f"{ENTRIES}?kind=adjustment")) == []
    assert ids(client.get(f"{ENTRIES}?school={world.school.pk}&status=pending")) == [mine.pk]


def test_entries_of_a_session(world):
    from tests import factories as f

    session = f.session_for(world.teacher, world.student, starts_at=NOW - timedelta(days=1))
    own = entry(world, session=session)
    entry(world)

    assert ids(client_for(world.owner).get(f"{ENTRIES}?session={session.pk}")) == [own.pk]


def test_entry_dates_are_in_the_schools_time_zone_when_a_school_is_given(world):
    # April 1st 00:30 in Lisbon is March 31st 23:30 in UTC
    late = entry(world, earned_at=datetime(2026, 4, 1, 0, 30, tzinfo=LISBON))
    early = entry(world, earned_at=datetime(2026, 3, 31, 12, tzinfo=LISBON))
    client = client_for(world.owner)

    assert ids(client.get(f"{ENTRIES}?school={world.school.pk}&from=2026-04-01")) == [late.pk]
    assert ids(client.get(f"{ENTRIES}?school={world.school.pk}&to=2026-03-31")) == [early.pk]
    # without a school, dates are UTC days
    assert ids(client.get(f"{ENTRIES}?to=2026-03-31")) == [late.pk, early.pk]
    assert ids(client.get(f"{ENTRIES}?from=2026-04-01&to=2026-04-30")) == []


def test_dates_for_a_school_the_viewer_is_not_in_are_utc_and_find_nothing(world, other_world):
    entry(world, earned_at=datetime(2026, 4, 1, 0, 30, tzinfo=LISBON))

    response = client_for(world.owner).get(f"{ENTRIES}?school={other_world.school.pk}&from=2026-01-01")

    assert response.status_code == 200
    assert ids(response) == []


@pytest.mark.parametrize(
    "query",
    ["status=bogus", "kind=bonus", "teacher=abc", "school=0", "from=2026-13-01", "to=9999-12-31"],
)
def test_invalid_entry_filters_are_a_400(world, query):
    response = client_for(world.owner).get(f"{ENTRIES}?{query}")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {query.split("=")[0]}


@pytest.mark.parametrize("count", [3, 6])
def test_the_entry_list_runs_a_fixed_number_of_queries(world, count, django_assert_num_queries):
    for n in range(count):
        entry(world, (world.teacher, world.other_teacher)[n % 2])
    client = client_for(world.owner)
    client.get(ENTRIES)

    # the token, the count, the page (with each teacher's name)
    with django_assert_num_queries(3):
        response = client.get(ENTRIES)

    assert response.json()["count"] == count


def test_entries_are_paginated(world):
    for _ in range(5):
        entry(world)

    body = client_for(world.owner).get(f"{ENTRIES}?page_size=2").json()

    assert (body["count"], len(body["results"])) == (5, 2)
    assert body["next"]


# --- Approve -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_staff_approve_pending_entries(world, role):
    first, second = entry(world), entry(world, world.other_teacher)
    user = world.user(role)

    response = client_for(user).post(
        APPROVE, {"school_id": world.school.pk, "entry_ids": [first.pk, second.pk]}, format="json"
    )

    assert response.status_code == 200
    approved = response.json()["approved"]
    assert [row["id"] for row in approved] == sorted([first.pk, second.pk])
    assert {(row["status"], row["approved_at"]) for row in approved} == {("approved", "2026-04-10T12:00:00Z")}
    assert set(EarningEntry.objects.values_list("status", "approved_by")) == {("approved", user.pk)}
    events = Event.objects.filter(type="earnings.updated")
    assert {(e.teacher_id, tuple(e.data["entry_ids"])) for e in events} == {
        (world.teacher.pk, (first.pk,)),
        (world.other_teacher.pk, (second.pk,)),
    }
    logs = ActivityLog.objects.filter(verb="earnings.approved")
    assert {(log.teacher_id, log.actor_id) for log in logs} == {
        (world.teacher.pk, user.pk),
        (world.other_teacher.pk, user.pk),
    }


@pytest.mark.parametrize("role", ["teacher", "other_teacher", "student", "guardian"])
def test_members_who_do_not_run_the_school_may_not_approve(world, role):
    pending = entry(world)

    response = client_for(world.user(role)).post(
        APPROVE, {"school_id": world.school.pk, "entry_ids": [pending.pk]}, format="json"
    )

    assert response.status_code == 403
    assert EarningEntry.objects.get(pk=pending.pk).status == "pending"


def test_another_schools_owner_gets_404(world, other_world):
    pending = entry(world)

    response = client_for(other_world.owner).post(
        APPROVE, {"school_id": world.school.pk, "entry_ids": [pending.pk]}, format="json"
    )

    assert response.status_code == 404
    assert (
        client_for(world.owner).post(APPROVE, {"school_id": 999999, "entry_ids": [1]}, format="json").status_code == 404
    )
    pending.refresh_from_db()
    assert (pending.status, pending.approved_at) == ("pending", None)
    assert not Event.objects.exists()


def test_entries_of_another_school_look_unknown(world, other_world):
    mine = entry(world)
    theirs = entry(other_world, other_world.teacher)
    client = client_for(world.owner)

    foreign = client.post(APPROVE, {"school_id": world.school.pk, "entry_ids": [mine.pk, theirs.pk]}, format="json")
    unknown = client.post(APPROVE, {"school_id": world.school.pk, "entry_ids": [mine.pk, 987654]}, format="json")

    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json()["message"] == f"These entries are unknown or not pending in this school: {theirs.pk}."
    assert unknown.json()["message"] == "These entries are unknown or not pending in this school: 987654."
    assert set(foreign.json()["fields"]) == {"entry_ids"}
    assert EarningEntry.objects.get(pk=mine.pk).status == "pending"
    assert EarningEntry.objects.get(pk=theirs.pk).status == "pending"


def test_approving_twice_is_a_400(world):
    pending = entry(world)
    client = client_for(world.owner)
    client.post(APPROVE, {"school_id": world.school.pk, "entry_ids": [pending.pk]}, format="json")
    pending.refresh_from_db()
    approved_at = pending.approved_at

    response = client.post(APPROVE, {"school_id": world.school.pk, "entry_ids": [pending.pk]}, format="json")

    assert response.status_code == 400
    assert "entry_ids" in response.json()["fields"]
    pending.refresh_from_db()
    assert (pending.status, pending.approved_at) == ("approved", approved_at)
    assert approved_at is not None
    assert Event.objects.filter(type="earnings.updated").count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"entry_ids": [1]}, "school_id"),
        ({"school_id": "x", "entry_ids": [1]}, "school_id"),
        ({"school_id": 1, "entry_ids": []}, "entry_ids"),
        ({"school_id": 1, "entry_ids": ["a"]}, "entry_ids"),
        ({"school_id": 1, "entry_ids": [2**70]}, "entry_ids"),
        ({"school_id": 1, "entry_ids": list(range(1, 502))}, "entry_ids"),
        ({"school_id": 1, "entry_ids": 5}, "entry_ids"),
    ],
)
def test_approve_validation(world, payload, field):
    pending = entry(world)

    response = client_for(world.owner).post(APPROVE, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert EarningEntry.objects.get(pk=pending.pk).status == "pending"
    assert not Event.objects.exists()


def test_approve_with_an_idempotency_key_replays(world):
    pending = entry(world)
    client = client_for(world.owner)
    payload = {"school_id": world.school.pk, "entry_ids": [pending.pk]}

    first = client.post(APPROVE, payload, format="json", HTTP_IDEMPOTENCY_KEY="approve-1")
    again = client.post(APPROVE, payload, format="json", HTTP_IDEMPOTENCY_KEY="approve-1")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Event.objects.filter(type="earnings.updated").count() == 1


# --- Payouts -----------------------------------------------------------------------------------------------------


def test_staff_pay_approved_entries(world):
    original = entry(world, amount="30.00", status="approved")
    correction = entry(world, amount="-6.50", status="approved", kind="adjustment", adjusts=original)
    untouched = entry(world, amount="99.00", status="approved")

    response = client_for(world.admin).post(
        PAYOUTS,
        {
            "school_id": world.school.pk,
            "teacher_id": world.teacher.pk,
            "entry_ids": [original.pk, correction.pk],
            "reference": "SEPA 2026-04",
        },
        format="json",
    )

    assert response.status_code == 201
    payout = Payout.objects.get()
    assert response.json() == {
        "id": payout.pk,
        "school_id": world.school.pk,
        "teacher": {"id": world.teacher.pk, "name": world.teacher.user.full_name},
        "amount": "23.50",
        "currency": "EUR",
        "paid_at": "2026-04-10T12:00:00Z",
        "reference": "SEPA 2026-04",
        "entry_ids": sorted([original.pk, correction.pk]),
    }
    assert payout.created_by == world.admin
    assert set(EarningEntry.objects.filter(payout=payout).values_list("pk", "status")) == {
        (original.pk, "paid"),
        (correction.pk, "paid"),
    }
    assert EarningEntry.objects.get(pk=untouched.pk).status == "approved"
    assert Event.objects.get(type="earnings.updated").data["entry_ids"] == sorted([original.pk, correction.pk])
    assert ActivityLog.objects.get(verb="payout.created").object_id == payout.pk


def test_paying_entries_not_approved_is_a_409(world):
    approved, pending = entry(world, status="approved"), entry(world)

    response = client_for(world.owner).post(
        PAYOUTS,
        {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [approved.pk, pending.pk]},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "not_approved"
    assert not Payout.objects.exists()
    assert not Event.objects.exists()


def test_paying_unknown_or_other_teachers_entries_is_a_400(world, other_world):
    theirs = entry(world, world.other_teacher, status="approved")
    foreign = entry(other_world, other_world.teacher, status="approved")
    client = client_for(world.owner)

    for bad in (theirs.pk, foreign.pk, 987654):
        response = client.post(
            PAYOUTS, {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [bad]}, format="json"
        )
        assert response.status_code == 400
        assert "entry_ids" in response.json()["fields"]
    assert not Payout.objects.exists()
    assert set(EarningEntry.objects.values_list("status", "payout")) == {("approved", None)}


@pytest.mark.parametrize(("role", "status"), [("teacher", 403), ("student", 403), ("guardian", 403)])
def test_who_may_not_pay(world, role, status):
    approved = entry(world, status="approved")

    response = client_for(world.user(role)).post(
        PAYOUTS,
        {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [approved.pk]},
        format="json",
    )

    assert response.status_code == status
    assert not Payout.objects.exists()


def test_another_schools_owner_may_not_pay(world, other_world):
    approved = entry(world, status="approved")

    response = client_for(other_world.owner).post(
        PAYOUTS,
        {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [approved.pk]},
        format="json",
    )

    assert response.status_code == 404
    assert not Payout.objects.exists()
    approved.refresh_from_db()
    assert (approved.status, approved.payout_id) == ("approved", None)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"school_id": 1, "entry_ids": [1]}, "teacher_id"),
        ({"school_id": 1, "teacher_id": 1, "entry_ids": [1], "reference": "x" * 101}, "reference"),
        ({"school_id": 1, "teacher_id": -3, "entry_ids": [1]}, "teacher_id"),
    ],
)
def test_payout_validation(world, payload, field):
    approved = entry(world, status="approved")

    response = client_for(world.owner).post(PAYOUTS, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Payout.objects.exists()
    assert EarningEntry.objects.get(pk=approved.pk).status == "approved"


def test_a_payout_with_an_idempotency_key_is_made_once(world):
    approved = entry(world, status="approved")
    client = client_for(world.owner)
    payload = {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [approved.pk]}

    first = client.post(PAYOUTS, payload, format="json", HTTP_IDEMPOTENCY_KEY="pay-april")
    again = client.post(PAYOUTS, payload, format="json", HTTP_IDEMPOTENCY_KEY="pay-april")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Payout.objects.count() == 1
    assert IdempotencyRecord.objects.get().status_code == 201


@pytest.fixture
def payouts(world, other_world):
    made = {}
    for name, (w, teacher) in {
        "mine": (world, world.teacher),
        "colleague": (world, world.other_teacher),
        "elsewhere": (other_world, other_world.teacher),
    }.items():
        paid = entry(w, teacher, status="approved")
        made[name] = Payout.objects.create(
            school=w.school, teacher=teacher, amount=paid.amount, currency="EUR", paid_at=NOW, created_by=w.owner
        )
        EarningEntry.objects.filter(pk=paid.pk).update(status="paid", payout=made[name])
    return made


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", ["mine", "colleague"]),
        ("admin", ["mine", "colleague"]),
        ("teacher", ["mine"]),
        ("other_teacher", ["colleague"]),
        ("student", []),
        ("guardian", []),
    ],
)
def test_who_sees_which_payouts(world, payouts, role, expected):
    response = client_for(world.user(role)).get(PAYOUTS)

    assert response.status_code == 200
    assert sorted(ids(response)) == sorted(payouts[name].pk for name in expected)


def test_payout_filters_and_shape(world, other_world, payouts):
    client = client_for(world.owner)

    assert ids(client.get(f"{PAYOUTS}?teacher={world.teacher.pk}")) == [payouts["mine"].pk]
    assert ids(client.get(f"{PAYOUTS}?school={other_world.school.pk}")) == []
    row = client.get(f"{PAYOUTS}?school={world.school.pk}&teacher={world.other_teacher.pk}").json()["results"][0]
    assert row["entry_ids"] == list(payouts["colleague"].entries.values_list("pk", flat=True))
    assert client.get(f"{PAYOUTS}?teacher=abc").status_code == 400


@pytest.mark.parametrize("count", [3, 6])
def test_the_payout_list_runs_a_fixed_number_of_queries(world, count, django_assert_num_queries):
    for _ in range(count):
        paid = entry(world, status="approved")
        payout = Payout.objects.create(
            school=world.school,
            teacher=world.teacher,
            amount=paid.amount,
            currency="EUR",
            paid_at=NOW,
            created_by=world.owner,
        )
        EarningEntry.objects.filter(pk=paid.pk).update(status="paid", payout=payout)
    client = client_for(world.owner)
    client.get(PAYOUTS)

    # the token, the count, the page, the entries of the page's payouts
    with django_assert_num_queries(4):
        response = client.get(PAYOUTS)

    assert response.json()["count"] == count
