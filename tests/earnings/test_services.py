from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction

from chalkboard.common.errors import Conflict, ValidationFailed
from chalkboard.completion import services as completion
from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.earnings.services import (
    GROUP_RATE,
    ONE_TO_ONE_RATE,
    earning_adjustment_description,
    earning_amount,
    earning_description,
    earning_rate_for,
    earning_record_for_session,
    earning_session_amend,
    earnings_approve,
    earnings_changed,
    payout_create,
    rate_pick,
)
from chalkboard.people.models import TeacherRate
from chalkboard.realtime.models import Event
from chalkboard.schools.access import Viewer
from tests import factories as f

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rate", "minutes", "expected"),
    [
        # 37.50 * 47 = 1762.50; / 60 = 29.375 -> half up -> 29.38
        ("37.50", 47, "29.38"),
        # 25.00 * 1 / 60 = 0.41666... -> 0.42
        ("25.00", 1, "0.42"),
        # 33.33 * 50 = 1666.50; / 60 = 27.775 -> half up -> 27.78
        ("33.33", 50, "27.78"),
        # 0.01 * 30 / 60 = 0.005 exactly -> half up -> 0.01 (a float would give 0.00 or 0.01 by luck)
        ("0.01", 30, "0.01"),
        # 10.01 * 3 / 60 = 0.5005 -> 0.50
        ("10.01", 3, "0.50"),
        # 20.00 * 100 / 60 = 33.333... -> 33.33
        ("20.00", 100, "33.33"),
        ("30.00", 60, "30.00"),
        ("0.00", 45, "0.00"),
        # the largest rate the column holds, for the longest session: 99999999.99 * 720 / 60 = 1199999999.88
        ("99999999.99", 720, "1199999999.88"),
    ],
)
def test_earning_amount_is_exact_to_the_cent(rate, minutes, expected):
    amount = earning_amount(hourly_rate=Decimal(rate), minutes=minutes)

    assert amount == Decimal(expected)
    assert str(amount) == expected


@pytest.fixture
def rates(world):
    """Every kind of rate for the world's teacher: default 30 (from the factory), group 20, subject 40,
    subject-and-group 35, plus rates that must never apply (another subject, another school)."""
    subject = f.SubjectFactory(school=world.school)
    other_subject = f.SubjectFactory(school=world.school)
    teacher, school = world.teacher, world.school
    TeacherRate.objects.create(teacher=teacher, school=school, is_group=True, hourly_rate="20.00")
    TeacherRate.objects.create(teacher=teacher, school=school, subject=subject, hourly_rate="40.00")
    TeacherRate.objects.create(teacher=teacher, school=school, subject=subject, is_group=True, hourly_rate="35.00")
    TeacherRate.objects.create(teacher=teacher, school=school, subject=other_subject, hourly_rate="99.00")
    TeacherRate.objects.create(
        teacher=teacher, school=school, subject=other_subject, is_group=True, hourly_rate="98.00"
    )
    other_school = f.SchoolFactory()
    f.teacher_in(other_school, user=teacher.user, rate="77.00")
    return subject


def rate(world, subject, *, is_group):
    return earning_rate_for(
        teacher_id=world.teacher.pk, school_id=world.school.pk, subject_id=subject.pk, is_group=is_group
    )


def drop(world, subject, *, is_group):
    TeacherRate.objects.filter(teacher=world.teacher, school=world.school, subject=subject, is_group=is_group).delete()


def test_the_rate_read_with_a_session_and_rate_pick_agree_with_the_rate_looked_up(world, rates):
    """The preference order is written twice, in Python (``rate_pick``, for the demo's seeder) and in SQL
    (``session_rate_sql``: read by ids, and with the session a completion locks): they give the same answers
    as rates are taken away one by one."""
    subject = rates
    session = f.session_for(world.teacher, world.student, subject=subject)

    def every_reading(is_group):
        with transaction.atomic():  # as a completion reads it, with the session it locks
            read_with_session, _ = completion._lock(Viewer.for_user(world.owner), session.pk)
        rows = TeacherRate.objects.filter(teacher=world.teacher, school=world.school)
        return (
            rate(world, subject, is_group=is_group),
            getattr(read_with_session, GROUP_RATE if is_group else ONE_TO_ONE_RATE),
            rate_pick(
                rates={(row.subject_id, row.is_group): row.hourly_rate for row in rows},
                subject_id=subject.pk,
                is_group=is_group,
            ),
        )

    seen = []
    for dropped in [None, (subject, True), (subject, False), (None, True), (None, False)]:
        if dropped is not None:
            drop(world, dropped[0], is_group=dropped[1])
        for is_group in (True, False):
            looked_up, with_session, picked = every_reading(is_group)
            assert looked_up == with_session == picked
            seen.append(looked_up)
    assert {Decimal("35.00"), Decimal("40.00"), Decimal("20.00"), Decimal("30.00"), None} <= set(seen)  # every level


def test_group_sessions_use_the_most_specific_rate_first(world, rates):
    subject = rates
    assert rate(world, subject, is_group=True) == Decimal("35.00")  # subject and group
    drop(world, subject, is_group=True)
    assert rate(world, subject, is_group=True) == Decimal("40.00")  # subject, before the generic group rate
    drop(world, subject, is_group=False)
    assert rate(world, subject, is_group=True) == Decimal("20.00")  # group, before the default
    drop(world, None, is_group=True)
    assert rate(world, subject, is_group=True) == Decimal("30.00")  # the default


def test_one_to_one_sessions_never_use_group_rates(world, rates):
    subject = rates
    assert rate(world, subject, is_group=False) == Decimal("40.00")
    drop(world, subject, is_group=False)
    # the subject's group rate (35) and the generic group rate (20) exist, but do not apply
    assert rate(world, subject, is_group=False) == Decimal("30.00")


def test_no_applicable_rate_is_none(world, rates):
    subject = rates
    drop(world, None, is_group=False)
    drop(world, subject, is_group=False)

    assert rate(world, subject, is_group=False) is None
    assert rate(world, subject, is_group=True) == Decimal("35.00")


RATES = {
    (None, False): Decimal("30.00"),
    (7, False): Decimal("35.00"),
    (None, True): Decimal("39.00"),
    (8, True): Decimal("50.00"),
    (9, True): Decimal("45.00"),
    (9, False): Decimal("41.00"),
}


@pytest.mark.parametrize(
    ("subject_id", "is_group", "expected"),
    [
        (9, True, "45.00"),  # subject and group
        (7, True, "35.00"),  # subject, before the generic group rate
        (6, True, "39.00"),  # group, before the default
        (7, False, "35.00"),  # subject
        (6, False, "30.00"),  # default
        (8, False, "30.00"),  # a group rate never applies to a one-to-one session
    ],
)
def test_rate_pick_takes_the_most_specific_applicable_rate(subject_id, is_group, expected):
    assert rate_pick(rates=RATES, subject_id=subject_id, is_group=is_group) == Decimal(expected)


def test_rate_pick_without_an_applicable_rate_is_none():
    assert rate_pick(rates={}, subject_id=1, is_group=True) is None
    assert rate_pick(rates={(None, True): Decimal("20.00")}, subject_id=1, is_group=False) is None


def describe(kind="session", subject_name="Maths", *, timezone_name):
    starts_at = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # in Lisbon, half an hour before its clocks go forward
    return earning_description(kind=kind, subject_name=subject_name, starts_at=starts_at, timezone_name=timezone_name)


def test_descriptions_name_the_local_start_and_the_minutes_changed():
    assert describe(timezone_name="Europe/Lisbon") == "Session: Maths, 2026-03-29 00:30 Europe/Lisbon"
    assert describe("no_show", timezone_name="America/Chicago") == "No-show: Maths, 2026-03-28 19:30 America/Chicago"
    assert len(describe(subject_name="x" * 400, timezone_name="UTC")) == 300
    assert earning_adjustment_description(original_id=12, original_minutes=60, minutes=75) == (
        "Adjustment of entry 12: 60 → 75 minutes"
    )


def started(world, *students, minutes=60):
    return f.session_for(
        world.teacher, *(students or (world.student,)), starts_at=NOW - timedelta(days=1), minutes=minutes
    )


def test_record_for_a_group_session_uses_the_group_rate(world):
    session = started(world, world.student, f.student_in(world.school))
    TeacherRate.objects.create(teacher=world.teacher, school=world.school, is_group=True, hourly_rate="37.50")

    entry = earning_record_for_session(session=session, kind="session", minutes=47)

    assert (entry.amount, entry.hourly_rate, entry.minutes, entry.currency) == (
        Decimal("29.38"),
        Decimal("37.50"),
        47,
        "EUR",
    )
    assert entry.earned_at == session.starts_at
    # the session started at 12:00 UTC on May 3rd: 13:00 in Lisbon (summer time)
    assert entry.description == f"Session: {session.subject.name}, 2026-05-03 13:00 Europe/Lisbon"


def test_record_without_a_rate_is_a_conflict(world):
    session = started(world)
    TeacherRate.objects.all().delete()

    with pytest.raises(Conflict, match="no hourly rate"):
        earning_record_for_session(session=session, kind="session", minutes=47)


def test_record_twice_is_a_conflict_not_an_integrity_error(world):
    session = started(world)
    earning_record_for_session(session=session, kind="session", minutes=47)

    # In the session's transaction, as the services call it: the Conflict rolls that transaction back.
    with pytest.raises(Conflict) as refused, transaction.atomic():
        earning_record_for_session(session=session, kind="no_show", minutes=60)

    assert refused.value.code == "earning_exists"
    assert EarningEntry.objects.count() == 1


def test_a_no_show_entry_says_so(world):
    entry = earning_record_for_session(session=started(world), kind="no_show", minutes=60)

    assert entry.description.startswith("No-show: ")


def test_amend_recomputes_a_pending_entry_with_its_own_rate(world):
    session = started(world)
    entry = earning_record_for_session(session=session, kind="session", minutes=60)
    # a later rate change does not reprice work already recorded
    TeacherRate.objects.filter(teacher=world.teacher).update(hourly_rate="50.00")

    written = earning_session_amend(session=session, minutes=47)

    assert written == [entry]
    entry.refresh_from_db()
    assert (entry.amount, entry.minutes, entry.hourly_rate) == (Decimal("23.50"), 47, Decimal("30.00"))


def test_amend_with_the_same_minutes_writes_nothing(world):
    session = started(world)
    earning_record_for_session(session=session, kind="session", minutes=60)

    assert earning_session_amend(session=session, minutes=60) == []


@time_machine.travel(NOW, tick=False)
def test_amend_of_an_approved_entry_adds_adjustments_for_the_difference(world):
    session = started(world)
    entry = earning_record_for_session(session=session, kind="session", minutes=60)
    EarningEntry.objects.filter(pk=entry.pk).update(status="approved")

    [down] = earning_session_amend(session=session, minutes=47)
    [up] = earning_session_amend(session=session, minutes=61)
    unchanged = earning_session_amend(session=session, minutes=61)

    assert (down.amount, down.minutes, down.kind, down.status, down.adjusts_id) == (
        Decimal("-6.50"),
        -13,
        "adjustment",
        "pending",
        entry.pk,
    )
    # 61 min = 30.50; the ledger held 30.00 - 6.50 = 23.50, so +7.00 and +14 minutes
    assert (up.amount, up.minutes, up.earned_at) == (Decimal("7.00"), 14, NOW)
    assert unchanged == []
    entry.refresh_from_db()
    assert (entry.amount, entry.minutes, entry.status) == (Decimal("30.00"), 60, "approved")


def test_amend_of_a_session_without_an_entry_records_one(world):
    session = started(world)

    [entry] = earning_session_amend(session=session, minutes=30)

    assert (entry.kind, entry.amount) == ("session", Decimal("15.00"))


def test_earnings_changed_emits_one_event_per_teacher(world):
    session = started(world)
    other = f.session_for(world.other_teacher, world.other_student, starts_at=NOW - timedelta(days=1))
    a = earning_record_for_session(session=session, kind="session", minutes=60)
    b = earning_record_for_session(session=other, kind="session", minutes=60)

    earnings_changed(school_id=world.school.pk, entries=[b, a])
    earnings_changed(school_id=world.school.pk, entries=[])

    events = list(Event.objects.order_by("id"))
    assert [(e.type, e.teacher_id, e.data["entry_ids"]) for e in events] == sorted(
        [("earnings.updated", world.teacher.pk, [a.pk]), ("earnings.updated", world.other_teacher.pk, [b.pk])],
        key=lambda row: row[1],
    )


def entry(world, teacher=None, *, amount="10.00", status="pending", school=None, **fields):
    return EarningEntry.objects.create(
        school=school or world.school,
        teacher=teacher or world.teacher,
        amount=Decimal(amount),
        currency="EUR",
        minutes=20,
        hourly_rate=Decimal("30.00"),
        earned_at=NOW,
        status=status,
        **fields,
    )


@time_machine.travel(NOW, tick=False)
def test_approve_moves_pending_entries_to_approved(world):
    mine, theirs = entry(world), entry(world, world.other_teacher)

    approved = earnings_approve(
        viewer=Viewer.for_user(world.owner), school=world.school, entry_ids=[theirs.pk, mine.pk]
    )

    assert [e.pk for e in approved] == sorted([mine.pk, theirs.pk])
    for row in EarningEntry.objects.all():
        assert (row.status, row.approved_at, row.approved_by) == ("approved", NOW, world.owner)
    assert Event.objects.filter(type="earnings.updated").count() == 2


def test_approve_refuses_everything_when_one_id_is_not_pending_here(world, other_world):
    pending = entry(world)
    done = entry(world, status="approved")
    elsewhere = entry(other_world, other_world.teacher, school=other_world.school)

    for bad in (done.pk, elsewhere.pk, 987654):
        with pytest.raises(ValidationFailed) as refused:
            earnings_approve(viewer=Viewer.for_user(world.owner), school=world.school, entry_ids=[pending.pk, bad])
        assert refused.value.fields == {"entry_ids": [refused.value.message]}
        assert str(bad) in refused.value.message

    assert EarningEntry.objects.get(pk=pending.pk).status == "pending"
    assert not Event.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_payout_pays_approved_entries_including_adjustments(world):
    original = entry(world, amount="30.00", status="approved")
    correction = entry(world, amount="-6.50", status="approved", kind="adjustment", adjusts=original)

    payout = payout_create(
        viewer=Viewer.for_user(world.owner),
        school=world.school,
        teacher_id=world.teacher.pk,
        entry_ids=[original.pk, correction.pk],
        reference="R1",
    )

    assert (payout.amount, payout.currency, payout.paid_at, payout.reference) == (Decimal("23.50"), "EUR", NOW, "R1")
    assert set(EarningEntry.objects.values_list("status", "payout_id")) == {("paid", payout.pk)}
    assert Event.objects.get().data == {
        "teacher_id": world.teacher.pk,
        "school_id": world.school.pk,
        "entry_ids": sorted([original.pk, correction.pk]),
    }


@pytest.mark.parametrize("status", ["pending", "paid"])
def test_payout_of_entries_not_approved_is_a_conflict(world, status):
    fields = (
        {
            "payout": Payout.objects.create(
                school=world.school,
                teacher=world.teacher,
                amount=1,
                currency="EUR",
                paid_at=NOW,
                created_by=world.owner,
            )
        }
        if status == "paid"
        else {}
    )
    approved, other = entry(world, status="approved"), entry(world, status=status, **fields)

    with pytest.raises(Conflict, match=str(other.pk)):
        payout_create(
            viewer=Viewer.for_user(world.owner),
            school=world.school,
            teacher_id=world.teacher.pk,
            entry_ids=[approved.pk, other.pk],
        )

    assert EarningEntry.objects.get(pk=approved.pk).status == "approved"


def test_payout_of_another_teachers_entries_is_invalid(world):
    theirs = entry(world, world.other_teacher, status="approved")

    with pytest.raises(ValidationFailed) as refused:
        payout_create(
            viewer=Viewer.for_user(world.owner), school=world.school, teacher_id=world.teacher.pk, entry_ids=[theirs.pk]
        )

    assert "entry_ids" in refused.value.fields
    assert Payout.objects.count() == 0
