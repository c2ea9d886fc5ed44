"""GET /api/teachers/{id}/earnings/: totals and periods in the school's time zone, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from chalkboard.earnings.models import EarningEntry
from tests import factories as f
from tests.conftest import build_world, client_for

pytestmark = pytest.mark.django_db

LISBON = ZoneInfo("Europe/Lisbon")
CHICAGO = ZoneInfo("America/Chicago")
ZERO_PERIOD = {
    "earned": "0.00",
    "pending": "0.00",
    "approved": "0.00",
    "paid": "0.00",
    "held": "0.00",
    "sessions": 0,
    "hours": "0.00",
}


def url(teacher, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/api/teachers/{teacher.pk}/earnings/" + (f"?{query}" if query else "")


def earn(world, when, *, amount, minutes=60, status="pending", teacher=None, school=None, adjusts=None, **fields):
    """An entry for a session at ``when`` (or an adjustment of ``adjusts`` made at ``when``)."""
    teacher = teacher or world.teacher
    school = school or world.school
    if adjusts is not None:
        session, kind = adjusts.session, "adjustment"
    else:
        student = world.student if school == world.school else f.student_in(school)
        session, kind = f.session_for(teacher, student, starts_at=when), "session"
    payout = None
    if status == "paid":
        from chalkboard.earnings.models import Payout

        payout = Payout.objects.create(
            school=school, teacher=teacher, amount=Decimal(amount), currency="EUR", paid_at=when, created_by=world.owner
        )
    return EarningEntry.objects.create(
        school=school,
        teacher=teacher,
        session=session,
        kind=kind,
        adjusts=adjusts,
        status=status,
        payout=payout,
        amount=Decimal(amount),
        currency=school.currency,
        minutes=minutes,
        hourly_rate=Decimal("30.00"),
        earned_at=when,
        **fields,
    )


def lisbon(month, day, hour, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=LISBON)


def test_totals_and_monthly_periods(world, other_world):
    jan_1 = earn(world, lisbon(1, 10, 10), amount="30.00", status="approved")
    earn(world, lisbon(1, 31, 23, 30), amount="22.50", minutes=45)  # 23:30 UTC: still January everywhere
    earn(world, lisbon(3, 31, 23, 30), amount="29.38", minutes=47, status="paid")  # 22:30 UTC (summer time)
    earn(world, lisbon(3, 2, 9), amount="-5.00", minutes=-10, adjusts=jan_1)  # a correction made in March
    earn(world, lisbon(4, 1, 0, 30), amount="30.00")  # March 31st 23:30 in UTC, but April in Lisbon: excluded
    earn(world, lisbon(2, 3, 10), amount="360.00", minutes=720, status="held", hold_reason="Too long.")
    earn(world, lisbon(3, 4, 10), amount="40.00", minutes=80, status="rejected", hold_reason="Too long.")
    earn(world, lisbon(5, 4, 10), amount="15.00", minutes=30, status="held", hold_reason="Too late.")  # out of range
    earn(world, lisbon(1, 12, 10), amount="99.00", teacher=world.other_teacher)  # someone else's
    f.teacher_in(other_world.school, user=world.teacher.user)
    earn(world, lisbon(1, 12, 10), amount="88.00", school=other_world.school)  # the same teacher, elsewhere

    response = client_for(world.owner).get(url(world.teacher, **{"from": "2026-01-01", "to": "2026-03-31"}))

    assert response.status_code == 200
    assert response.json() == {
        "teacher": {"id": world.teacher.pk, "name": world.teacher.user.full_name},
        "school": {"id": world.school.pk, "name": "Lisbon Tutors", "timezone": "Europe/Lisbon", "currency": "EUR"},
        "currency": "EUR",
        "from": "2026-01-01",
        "to": "2026-03-31",
        "group_by": "month",
        # earned = 30.00 + 22.50 + 29.38 - 5.00; sessions exclude the adjustment; hours = (60+45+47-10)/60;
        # the held entry is only "held", the rejected one counts nowhere
        "totals": {
            "earned": "76.88",
            "pending": "17.50",
            "approved": "30.00",
            "paid": "29.38",
            "held": "360.00",
            "sessions": 3,
            "hours": "2.37",
        },
        "periods": [
            {
                "start": "2026-01-01",
                "earned": "52.50",
                "pending": "22.50",
                "approved": "30.00",
                "paid": "0.00",
                "held": "0.00",
                "sessions": 2,
                "hours": "1.75",
            },
            {"start": "2026-02-01", **ZERO_PERIOD, "held": "360.00"},
            {
                "start": "2026-03-01",
                "earned": "24.38",
                "pending": "-5.00",
                "approved": "0.00",
                "paid": "29.38",
                "held": "0.00",
                "sessions": 1,
                "hours": "0.62",
            },
        ],
        # whatever their date
        "awaiting_review": {"entries": 2, "amount": "375.00"},
    }


def test_a_late_session_on_the_last_day_of_the_month_stays_in_that_month_in_chicago():
    world = build_world(timezone="America/Chicago", currency="USD")
    # 23:30 in Chicago on January 31st is already February 1st 05:30 in UTC
    earn(world, datetime(2026, 1, 31, 23, 30, tzinfo=CHICAGO), amount="10.00")
    # and February 28th 23:30 is March 1st in UTC
    earn(world, datetime(2026, 2, 28, 23, 30, tzinfo=CHICAGO), amount="20.00")

    body = client_for(world.teacher.user).get(url(world.teacher, **{"from": "2026-01-01", "to": "2026-02-28"})).json()

    assert body["currency"] == "USD"
    assert [(p["start"], p["earned"]) for p in body["periods"]] == [("2026-01-01", "10.00"), ("2026-02-01", "20.00")]
    assert body["totals"]["earned"] == "30.00"


def test_the_range_ends_at_the_schools_midnight():
    world = build_world(timezone="America/Chicago")
    earn(world, datetime(2026, 1, 31, 23, 59, tzinfo=CHICAGO), amount="10.00")
    earn(world, datetime(2026, 2, 1, 0, 0, tzinfo=CHICAGO), amount="20.00")

    body = client_for(world.owner).get(url(world.teacher, **{"from": "2026-01-01", "to": "2026-01-31"})).json()

    assert body["totals"]["earned"] == "10.00"


def test_weeks_start_on_monday_in_the_schools_time_zone():
    world = build_world(timezone="America/Chicago")
    # Sunday March 8th 23:30 in Chicago is Monday 04:30 in UTC: it belongs to the week of Monday March 2nd
    earn(world, datetime(2026, 3, 8, 23, 30, tzinfo=CHICAGO), amount="10.00")
    earn(world, datetime(2026, 3, 9, 0, 30, tzinfo=CHICAGO), amount="20.00")

    body = (
        client_for(world.owner)
        .get(url(world.teacher, group_by="week", **{"from": "2026-03-04", "to": "2026-03-15"}))
        .json()
    )

    assert [(p["start"], p["earned"]) for p in body["periods"]] == [("2026-03-02", "10.00"), ("2026-03-09", "20.00")]


def test_weeks_and_days_in_lisbon_summer_time(world):
    # Monday April 6th 00:30 in Lisbon is Sunday 23:30 in UTC
    earn(world, lisbon(4, 6, 0, 30), amount="12.00")
    earn(world, lisbon(4, 5, 23, 30), amount="8.00")
    client = client_for(world.owner)

    weeks = client.get(url(world.teacher, group_by="week", **{"from": "2026-03-30", "to": "2026-04-12"})).json()
    days = client.get(url(world.teacher, group_by="day", **{"from": "2026-04-05", "to": "2026-04-07"})).json()

    assert [(p["start"], p["earned"]) for p in weeks["periods"]] == [("2026-03-30", "8.00"), ("2026-04-06", "12.00")]
    assert [(p["start"], p["earned"]) for p in days["periods"]] == [
        ("2026-04-05", "8.00"),
        ("2026-04-06", "12.00"),
        ("2026-04-07", "0.00"),
    ]
    assert days["group_by"] == "day"


def test_the_default_range_is_the_last_twelve_months_by_month(world):
    with time_machine.travel(datetime(2026, 5, 15, 12, tzinfo=UTC), tick=False):
        body = client_for(world.teacher.user).get(url(world.teacher)).json()

    assert (body["from"], body["to"], body["group_by"]) == ("2025-06-01", "2026-05-15", "month")
    assert [p["start"] for p in body["periods"]][:2] == ["2025-06-01", "2025-07-01"]
    assert len(body["periods"]) == 12
    assert body["periods"][-1] == {"start": "2026-05-01", **ZERO_PERIOD}


def test_today_is_the_schools_today():
    world = build_world(timezone="America/Chicago")
    # 03:00 UTC on June 1st is still May 31st in Chicago
    with time_machine.travel(datetime(2026, 6, 1, 3, tzinfo=UTC), tick=False):
        body = client_for(world.owner).get(url(world.teacher)).json()

    assert body["to"] == "2026-05-31"
    assert body["periods"][-1]["start"] == "2026-05-01"


def test_one_end_given_fills_the_other(world):
    only_to = client_for(world.owner).get(url(world.teacher, to="2026-03-10")).json()
    with time_machine.travel(datetime(2026, 5, 15, 12, tzinfo=UTC), tick=False):
        # Signed in on that day: a token from the test's own clock may have expired by then.
        only_from = client_for(world.owner).get(url(world.teacher, **{"from": "2026-04-20"})).json()

    assert (only_to["from"], only_to["to"]) == ("2025-04-01", "2026-03-10")
    assert (only_from["from"], only_from["to"]) == ("2026-04-20", "2026-05-15")


def test_a_range_of_exactly_731_days_is_allowed(world):
    response = client_for(world.owner).get(url(world.teacher, **{"from": "2024-01-01", "to": "2025-12-31"}))

    assert response.status_code == 200
    assert len(response.json()["periods"]) == 24


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"from": "2024-01-01", "to": "2026-01-01"}, {"from", "to"}),  # 732 days
        ({"from": "2026-03-02", "to": "2026-03-01"}, {"from"}),
        ({"from": "2026-02-30"}, {"from"}),
        ({"to": "yesterday"}, {"to"}),
        ({"to": "9999-12-31"}, {"to"}),
        ({"from": "0001-01-01", "to": "0001-12-31"}, {"from", "to"}),
        ({"group_by": "year"}, {"group_by"}),
        ({"school": "abc"}, {"school"}),
        ({"school": "99999999999999999999"}, {"school"}),
    ],
)
def test_invalid_parameters_are_a_400_naming_them(world, params, fields):
    response = client_for(world.owner).get(url(world.teacher, **params))

    assert response.status_code == 400
    assert set(response.json()["fields"]) == fields


@pytest.mark.parametrize("role", ["owner", "admin", "teacher", "student", "guardian"])
def test_another_school_sees_nothing(world, other_world, role):
    client = client_for(other_world.user(role))

    assert client.get(url(world.teacher)).status_code == 404
    assert client.get(url(world.teacher, school=world.school.pk)).status_code == 404
    assert client.get(url(world.teacher, format="csv")).status_code == 404


def test_unknown_and_huge_teacher_ids_are_404(world):
    client = client_for(world.owner)
    assert client.get("/api/teachers/999999/earnings/").status_code == 404
    assert client.get("/api/teachers/99999999999999999999999/earnings/").status_code == 404


def test_a_teacher_in_two_schools_sees_one_at_a_time(world, other_world):
    f.teacher_in(other_world.school, user=world.teacher.user)
    earn(world, lisbon(3, 1, 10), amount="10.00")
    earn(world, lisbon(3, 1, 10), amount="1000", school=other_world.school)
    client = client_for(world.teacher.user)
    window = {"from": "2026-03-01", "to": "2026-03-31"}

    default = client.get(url(world.teacher, **window)).json()
    other = client.get(url(world.teacher, school=other_world.school.pk, **window)).json()

    assert default["school"]["id"] == min(world.school.pk, other_world.school.pk)
    assert (other["currency"], other["totals"]["earned"]) == ("JPY", "1000.00")
    assert (
        client_for(other_world.admin).get(url(world.teacher, **window)).json()["school"]["id"] == other_world.school.pk
    )
    assert client_for(world.owner).get(url(world.teacher, school=other_world.school.pk)).status_code == 404


def test_a_school_where_the_teacher_does_not_teach_is_404(world):
    elsewhere = f.SchoolFactory()
    f.member(school=elsewhere, role="owner", user=world.owner)

    assert client_for(world.owner).get(url(world.teacher, school=elsewhere.pk)).status_code == 404


def test_a_teacher_who_left_the_school_cannot_read_it_there(world):
    from chalkboard.schools.models import Membership

    Membership.objects.filter(user=world.teacher.user, role="teacher").update(is_active=False)

    assert client_for(world.teacher.user).get(url(world.teacher)).status_code == 404


@pytest.mark.parametrize("entries", [3, 30])
def test_the_summary_runs_a_fixed_number_of_queries(world, entries, django_assert_num_queries):
    for n in range(entries):
        earn(world, lisbon(1 + n % 3, 1 + n % 28, 10), amount="10.00", status=("pending", "approved")[n % 2])
    client = client_for(world.owner)
    client.get(url(world.teacher))  # the viewer's roles are cached from here on, as in a normal session

    # the token, the teacher, the teacher's schools, the periods, what awaits review
    with django_assert_num_queries(5):
        body = client.get(url(world.teacher, group_by="week", **{"from": "2026-01-01", "to": "2026-03-31"})).json()

    assert body["totals"]["sessions"] == entries


# --- CSV ---------------------------------------------------------------------------------------------------------


def rows_of(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("how", ["accept", "format"])
def test_the_entries_as_csv(world, how):
    first = earn(world, lisbon(3, 31, 23, 30), amount="29.38", minutes=47, description="Session: Maths")
    second = earn(world, lisbon(4, 2, 9), amount="-5.00", minutes=-10, adjusts=first, description="=1+2")
    earn(world, lisbon(5, 2, 9), amount="1.00")  # outside the range
    client = client_for(world.teacher.user)
    window = {"from": "2026-03-01", "to": "2026-04-30"}

    if how == "accept":
        response = client.get(url(world.teacher, **window), HTTP_ACCEPT="text/csv")
    else:
        response = client.get(url(world.teacher, format="csv", **window))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="earnings-{world.teacher.pk}-{world.school.pk}-2026-03-01-2026-04-30.csv"'
    )
    assert rows_of(response) == [
        [
            "id",
            "earned_at",
            "session_id",
            "kind",
            "status",
            "minutes",
            "hourly_rate",
            "amount",
            "currency",
            "description",
        ],
        [
            str(first.pk),
            "2026-03-31T23:30:00+01:00",
            str(first.session_id),
            "session",
            "pending",
            "47",
            "30.00",
            "29.38",
            "EUR",
            "Session: Maths",
        ],
        [
            str(second.pk),
            "2026-04-02T09:00:00+01:00",
            str(first.session_id),
            "adjustment",
            "pending",
            "-10",
            "30.00",
            "-5.00",
            "EUR",
            "'=1+2",
        ],
    ]


def test_an_entry_without_a_session_has_an_empty_session_cell(world):
    EarningEntry.objects.create(
        school=world.school,
        teacher=world.teacher,
        kind="session",
        amount=Decimal("5.00"),
        currency="EUR",
        minutes=10,
        hourly_rate=Decimal("30.00"),
        earned_at=lisbon(3, 3, 10),
    )

    rows = rows_of(
        client_for(world.owner).get(url(world.teacher, format="csv", **{"from": "2026-03-01", "to": "2026-03-31"}))
    )

    assert rows[1][2] == ""


def test_json_stays_the_default_and_format_json_works(world):
    client = client_for(world.owner)

    assert client.get(url(world.teacher))["Content-Type"] == "application/json"
    assert client.get(url(world.teacher, format="json"))["Content-Type"] == "application/json"
    assert (
        client.get(url(world.teacher), HTTP_ACCEPT="application/json, text/csv")["Content-Type"] == "application/json"
    )


@pytest.mark.parametrize(
    ("role", "params", "status"),
    [
        ("student", {"format": "csv"}, 404),
        ("owner", {"format": "csv", "from": "2026-03-02", "to": "2026-03-01"}, 400),
        (None, {"format": "csv"}, 401),
    ],
)
def test_errors_are_json_even_when_csv_was_asked_for(world, role, params, status):
    client = client_for(world.user(role) if role else None)

    response = client.get(url(world.teacher, **params))
    by_accept = client.get(
        url(world.teacher, **{k: v for k, v in params.items() if k != "format"}), HTTP_ACCEPT="text/csv"
    )

    for answer in (response, by_accept):
        assert answer.status_code == status
        assert answer["Content-Type"] == "application/json"
        assert answer.json()["status"] == status


def test_an_unknown_format_is_404(world):
    assert client_for(world.owner).get(url(world.teacher, format="xml")).status_code == 404


def test_a_chicago_csv_shows_chicago_times():
    world = build_world(timezone="America/Chicago", currency="USD")
    earn(world, datetime(2026, 1, 31, 23, 30, tzinfo=CHICAGO), amount="10.00")

    rows = rows_of(
        client_for(world.owner).get(url(world.teacher, format="csv", **{"from": "2026-01-31", "to": "2026-01-31"}))
    )

    assert rows[1][1] == "2026-01-31T23:30:00-06:00"
    assert rows[1][8] == "USD"


def test_money_is_never_a_float(world):
    earn(world, lisbon(3, 3, 10), amount="0.10")
    earn(world, lisbon(3, 3, 11), amount="0.20")

    body = client_for(world.owner).get(url(world.teacher, **{"from": "2026-03-01", "to": "2026-03-31"})).json()

    assert body["totals"]["earned"] == "0.30"


def test_adjustments_reported_alone_in_a_period(world):
    original = earn(world, lisbon(1, 5, 10), amount="30.00", status="approved")
    earn(world, lisbon(2, 5, 10) - timedelta(minutes=1), amount="-30.00", minutes=-60, adjusts=original)

    body = client_for(world.owner).get(url(world.teacher, **{"from": "2026-02-01", "to": "2026-02-28"})).json()

    assert body["totals"] == {
        "earned": "-30.00",
        "pending": "-30.00",
        "approved": "0.00",
        "paid": "0.00",
        "held": "0.00",
        "sessions": 0,
        "hours": "-1.00",
    }


def test_totals_are_exact_sums_of_float_hostile_amounts(world):
    amounts = f.FLOAT_HOSTILE_AMOUNTS
    f.ledger_of(world.teacher, world.school, amounts=amounts, statuses=("pending", "held"), earned_at=lisbon(3, 2, 9))
    pending, held = amounts[0::2], amounts[1::2]
    exact = sum(amounts, Decimal(0))
    assert f.float_sum(pending) != float(sum(pending, Decimal(0)))  # binary floats really get these wrong
    assert f.float_sum(held) != float(sum(held, Decimal(0)))

    body = client_for(world.owner).get(url(world.teacher, **{"from": "2026-03-01", "to": "2026-03-31"})).json()

    assert exact == sum(pending, Decimal(0)) + sum(held, Decimal(0))
    assert body["totals"]["pending"] == body["totals"]["earned"] == str(sum(pending, Decimal(0))) == "1500185185897.50"
    assert body["totals"]["held"] == body["periods"][0]["held"] == str(sum(held, Decimal(0)))
    assert body["awaiting_review"] == {"entries": len(held), "amount": str(sum(held, Decimal(0)))}
