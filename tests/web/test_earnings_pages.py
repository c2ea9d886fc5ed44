"""The earnings page over HTTP: the API's figures and CSV for the same query, who may open it, and the staff's
forms (approve, review, pay) through the services, with CSRF, POST/redirect/GET and double submits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.http import urlencode

from chalkboard.activity.models import ActivityLog
from chalkboard.earnings import selectors
from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.earnings.selectors import GroupBy
from chalkboard.web.earnings_pages import (
    CHOOSE_ENTRIES,
    MAX_ENTRIES_PER_FORM,
    TOO_MANY_ENTRIES,
    _chart,
    _period_label,
)
from chalkboard.web.pages import PAGE_CSP
from tests import factories as f
from tests.conftest import client_for
from tests.web.test_pages import csrf_token, signed_in

pytestmark = pytest.mark.django_db

MONEY = ("earned", "pending", "approved", "paid", "held")


def page_url(teacher, school=None, **params) -> str:
    query = {"school": school.pk} if school is not None else {}
    return f"/app/teachers/{teacher.pk}/earnings/?" + urlencode({**query, **params})


def csv_url(teacher, school, **params) -> str:
    return f"/app/teachers/{teacher.pk}/earnings/csv/?" + urlencode({"school": school.pk, **params})


def entry(world, teacher=None, *, amount="10.00", status="pending", days_ago=3, **fields) -> EarningEntry:
    return EarningEntry.objects.create(
        school=world.school,
        teacher=teacher or world.teacher,
        amount=Decimal(amount),
        currency=world.school.currency,
        minutes=60,
        hourly_rate=Decimal("30.00"),
        earned_at=timezone.now() - timedelta(days=days_ago),
        status=status,
        **{"hold_reason": "Held for review." if status == "held" else "", **fields},
    )


def ledger(world) -> list[EarningEntry]:
    """A bit of everything over the last months: each status, an adjustment, and a held claim."""
    approved = entry(world, amount="30.00", status="approved", days_ago=40)
    return [
        approved,
        entry(world, amount="22.50", days_ago=3),
        entry(world, amount="45.00", status="held", hold_reason="Claimed late.", days_ago=10),
        entry(world, amount="-5.00", kind="adjustment", adjusts=approved, days_ago=2),
        entry(world, amount="12.34", status="rejected", days_ago=5),
        entry(world, world.other_teacher, amount="99.00", days_ago=1),
    ]


def row_cells(body: str, row_id: str) -> list[str]:
    row = body[body.index(f'<tr id="{row_id}">') :].split("</tr>")[0]
    return re.findall(r"<td>([^<]*)</td>", row)


def figures(tally: dict) -> list[str]:
    return [*(tally[key] for key in MONEY), str(tally["sessions"]), tally["hours"]]


def post(client: Client, world, action: str, entries, **fields):
    data = {"action": action, "entry": [str(e.pk) if isinstance(e, EarningEntry) else e for e in entries], **fields}
    return client.post(page_url(world.teacher, world.school), data)


# --- The figures. ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"by": "week", "from": "2026-09-28", "to": "2026-11-27"},
        {"by": "day", "from": "2026-11-20", "to": "2026-11-27"},
        {"by": "month", "from": "2026-01-01", "to": "2026-12-31"},
    ],
)
def test_the_page_shows_the_apis_figures_for_the_same_query(world, other_world, query):
    ledger(world)
    api_query = {("group_by" if key == "by" else key): value for key, value in query.items()}
    api = client_for(world.teacher.user).get(
        f"/api/teachers/{world.teacher.pk}/earnings/?" + urlencode({"school": world.school.pk, **api_query})
    )
    expected = api.json()

    response = signed_in(world.teacher.user).get(page_url(world.teacher, world.school, **query))

    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == PAGE_CSP
    assert response["Cache-Control"] == "no-store"
    assert 'data-live="/ws/dashboard/"' in body
    assert "style=" not in body
    assert len(expected["periods"]) > 1
    for period in expected["periods"]:
        assert row_cells(body, f"period-{period['start']}") == figures(period)
    assert row_cells(body, "period-totals") == figures(expected["totals"])
    assert body.count('<rect class="earned"') == len(expected["periods"])
    assert f"{expected['awaiting_review']['entries']} · {expected['awaiting_review']['amount']}" in body
    assert f'value="{expected["from"]}"' in body
    assert f'value="{expected["to"]}"' in body


def test_without_a_school_the_page_shows_the_teachers_first(world):
    response = signed_in(world.teacher.user).get(f"/app/teachers/{world.teacher.pk}/earnings/")

    assert response.status_code == 200
    assert world.school.name in response.content.decode()
    assert f"?school={world.school.pk}" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"by": "year"}, "by", "Select a valid choice."),
        ({"from": "yesterday"}, "from", "Enter a valid date."),
        ({"to": "1900-01-01"}, "to", selectors.DATE_OUT_OF_BOUNDS),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "from", selectors.RANGE_REVERSED),
        ({"from": "2020-01-01", "to": "2026-11-01"}, "to", selectors.RANGE_TOO_LONG),
    ],
)
def test_a_bad_query_is_told_next_to_its_field(world, query, field, message):
    response = signed_in(world.owner).get(page_url(world.teacher, world.school, **query))

    body = response.content.decode()
    assert response.status_code == 400
    assert f'aria-describedby="{field}-error"' in body
    error = body[body.index(f'id="{field}-error"') :].split("</p>")[0]
    assert message in error
    assert "Correct the dates above" in body
    assert "period-totals" not in body


# --- Who may open it. -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["teacher", "owner", "admin"])
def test_the_teacher_and_the_schools_staff_open_the_page(world, role):
    response = signed_in(world.user(role)).get(page_url(world.teacher, world.school))

    assert response.status_code == 200
    assert world.teacher.user.full_name in response.content.decode()


@pytest.mark.parametrize("role", ["other_teacher", "student", "guardian"])
def test_everyone_else_in_the_school_gets_404(world, role):
    entry(world, amount="77.77")

    response = signed_in(world.user(role)).get(page_url(world.teacher, world.school))
    download = signed_in(world.user(role)).get(csv_url(world.teacher, world.school))

    for answer in (response, download):
        assert answer.status_code == 404
        assert "77.77" not in answer.content.decode()


def test_another_schools_staff_and_other_schools_get_404(world, other_world):
    client = signed_in(other_world.owner)
    teacher_client = signed_in(world.teacher.user)

    assert client.get(page_url(world.teacher, world.school)).status_code == 404
    assert client.get(page_url(world.teacher)).status_code == 404
    assert teacher_client.get(page_url(world.teacher, other_world.school)).status_code == 404
    assert teacher_client.get(page_url(world.teacher) + "school=abc").status_code == 404
    assert teacher_client.get(f"/app/teachers/{2**62}/earnings/").status_code == 404


def test_an_anonymous_visitor_is_sent_to_sign_in(world):
    response = Client().get(page_url(world.teacher, world.school))

    assert response.status_code == 302
    assert response["Location"].startswith("/?next=")


def test_the_teacher_sees_no_staff_forms_and_the_staff_do(world):
    ledger(world)

    mine = signed_in(world.teacher.user).get(page_url(world.teacher, world.school)).content.decode()
    staff = signed_in(world.admin).get(page_url(world.teacher, world.school)).content.decode()

    for form in ("approve-form", "review-form", "payout-form"):
        assert f'id="{form}"' not in mine
        assert f'id="{form}"' in staff
    assert "School overview" not in mine
    assert f'href="/app/schools/{world.school.pk}/"' in staff
    assert "Claimed late." in staff


def test_staff_without_anything_to_act_on_are_told_so(world):
    body = signed_in(world.owner).get(page_url(world.teacher, world.school)).content.decode()

    assert "Nothing waits for approval." in body
    assert "Nothing is held for review." in body
    assert "Nothing approved waits to be paid." in body


def test_the_staff_page_costs_the_same_queries_however_many_entries(world):
    client = signed_in(world.owner)
    for status in ("pending", "held", "approved"):
        entry(world, status=status)
    client.get(page_url(world.teacher, world.school))  # sessions and roles are cached from here on

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(page_url(world.teacher, world.school)).status_code == 200
        return len(captured)

    few = queries()
    for days_ago in range(1, 4):
        for status in ("pending", "held", "approved"):
            entry(world, status=status, days_ago=days_ago)

    assert queries() == few


# --- The CSV. -------------------------------------------------------------------------------------------------------


def test_the_csv_is_the_apis_export_for_the_same_range(world):
    ledger(world)
    today = timezone.localdate(timezone=world.school.zone)
    range_ = {"from": str(today - timedelta(days=50)), "to": str(today)}
    api = client_for(world.owner).get(
        f"/api/teachers/{world.teacher.pk}/earnings/?"
        + urlencode({"school": world.school.pk, "format": "csv", **range_})
    )

    response = signed_in(world.owner).get(csv_url(world.teacher, world.school, **range_))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == api["Content-Disposition"]
    assert response["Cache-Control"] == "no-store"
    assert response.content == api.content
    assert response.content.count(b"\r\n") == 6  # the header and the teacher's five entries, rejected too


def test_the_page_links_to_the_csv_of_its_range(world):
    body = signed_in(world.teacher.user).get(page_url(world.teacher, world.school, by="week", to="2026-11-20")).content
    link = csv_url(world.teacher, world.school, by="week", to="2026-11-20").replace("&", "&amp;")

    assert f'href="{link}"'.encode() in body


def test_a_csv_of_a_bad_range_is_the_page_with_why(world):
    response = signed_in(world.teacher.user).get(csv_url(world.teacher, world.school, **{"from": "2999-12-01"}))

    assert response.status_code == 400
    assert selectors.RANGE_REVERSED in response.content.decode()


# --- Approving. ------------------------------------------------------------------------------------------------------


def test_staff_approve_through_the_form_and_a_second_identical_post_changes_nothing(world):
    first, second = entry(world, amount="22.50"), entry(world, amount="7.50")
    client = signed_in(world.owner)

    done = post(client, world, "approve", [first, second])

    assert done.status_code == 302
    assert done["Location"] == page_url(world.teacher, world.school)
    first.refresh_from_db()
    second.refresh_from_db()
    assert {(e.status, e.approved_by_id) for e in (first, second)} == {("approved", world.owner.pk)}
    approved_at = first.approved_at
    refreshed = client.get(done["Location"], HTTP_X_LIVE_REFRESH="1").content.decode()  # the old page, live
    shown = client.get(done["Location"]).content.decode()
    assert "Approved 2 entries" not in refreshed
    assert "Approved 2 entries: 30.00 EUR." in shown
    assert "Approved 2 entries" not in client.get(done["Location"]).content.decode()  # told once

    again = post(client, world, "approve", [first, second])

    body = again.content.decode()
    assert again.status_code == 400
    assert "These entries are unknown or not pending in this school" in body
    assert 'aria-describedby="approve-entry-error"' in body
    first.refresh_from_db()
    assert (first.status, first.approved_at) == ("approved", approved_at)
    assert ActivityLog.objects.filter(verb="earnings.approved").count() == 1


def test_the_same_form_sent_twice_from_one_page_is_answered_as_the_first_without_acting_again(world):
    first, second = entry(world, amount="10.00"), entry(world, amount="2.50")
    client = signed_in(world.owner)
    page = client.get(page_url(world.teacher, world.school)).content.decode()
    key = re.search(r'name="form_key" value="([^"]+)"', page).group(1)

    done = post(client, world, "approve", [first], form_key=key)
    approved_at = EarningEntry.objects.get(pk=first.pk).approved_at
    again = post(client, world, "approve", [first], form_key=key)
    told = client.get(again["Location"]).content.decode()
    other = post(client, world, "approve", [second], form_key=key)  # another form of the same page: acted on

    assert done.status_code == again.status_code == other.status_code == 302
    assert "Approved 1 entry: 10.00 EUR." in told
    assert EarningEntry.objects.get(pk=first.pk).approved_at == approved_at
    assert EarningEntry.objects.get(pk=second.pk).status == "approved"
    assert ActivityLog.objects.filter(verb="earnings.approved").count() == 2
    fresh = client.get(page_url(world.teacher, world.school)).content.decode()
    assert key not in fresh  # each page its own key


def test_one_entry_approved_is_told_in_the_singular(world):
    pending = entry(world, amount="5.00")
    client = signed_in(world.admin)

    done = post(client, world, "approve", [pending])

    assert "Approved 1 entry: 5.00 EUR." in client.get(done["Location"]).content.decode()


@pytest.mark.parametrize(("role", "status"), [("teacher", 403), ("other_teacher", 404), ("student", 404)])
def test_members_who_do_not_run_the_school_cannot_approve(world, role, status):
    pending = entry(world)

    response = post(signed_in(world.user(role)), world, "approve", [pending])

    assert response.status_code == status
    pending.refresh_from_db()
    assert (pending.status, pending.approved_at) == ("pending", None)


def test_another_schools_owner_cannot_approve(world, other_world):
    pending = entry(world)

    response = post(signed_in(other_world.owner), world, "approve", [pending])

    assert response.status_code == 404
    assert EarningEntry.objects.get(pk=pending.pk).status == "pending"


def test_the_forms_need_this_sites_csrf_token(world):
    pending = entry(world)
    client = Client(enforce_csrf_checks=True)
    client.post("/", {"email": world.owner.email, "password": f.PASSWORD, "csrfmiddlewaretoken": csrf_token(client)})

    forged = client.post(page_url(world.teacher, world.school), {"action": "approve", "entry": [pending.pk]})
    assert forged.status_code == 403
    assert EarningEntry.objects.get(pk=pending.pk).status == "pending"

    token = csrf_token(client, page_url(world.teacher, world.school))
    genuine = client.post(
        page_url(world.teacher, world.school),
        {"action": "approve", "entry": [pending.pk], "csrfmiddlewaretoken": token},
    )
    assert genuine.status_code == 302
    assert EarningEntry.objects.get(pk=pending.pk).status == "approved"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], CHOOSE_ENTRIES),
        (["abc"], "This is not an entry: abc."),
        ([str(2**63)], f"This is not an entry: {2**63}."),
        ([str(n) for n in range(1, MAX_ENTRIES_PER_FORM + 2)], TOO_MANY_ENTRIES),
    ],
)
def test_bad_choices_are_told_next_to_the_entries(world, entries, message):
    pending = entry(world)

    response = post(signed_in(world.owner), world, "approve", entries)

    body = response.content.decode()
    assert response.status_code == 400
    assert message in body[body.index('id="approve-entry-error"') :].split("</p>")[0]
    assert EarningEntry.objects.get(pk=pending.pk).status == "pending"


def test_an_entry_of_another_school_is_refused_and_nothing_is_approved(world, other_world):
    mine = entry(world)
    theirs = entry(other_world, other_world.teacher)

    response = post(signed_in(world.owner), world, "approve", [mine, theirs])

    assert response.status_code == 400
    assert f"not pending in this school: {theirs.pk}." in response.content.decode()
    assert f'value="{mine.pk}" id="approve-entry-{mine.pk}" checked' in response.content.decode()
    assert set(EarningEntry.objects.values_list("status", flat=True)) == {"pending"}


def test_an_action_that_is_none_of_the_pages_forms_is_refused_and_changes_nothing(world):
    pending = entry(world)

    response = post(signed_in(world.owner), world, "delete", [pending])

    assert response.status_code == 400
    assert EarningEntry.objects.get(pk=pending.pk).status == "pending"


# --- Reviewing and paying. -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "status", "told"),
    [
        ("release", "pending", "Released 1 entry: they now wait for approval."),
        ("reject", "rejected", "Rejected 1 entry"),
    ],
)
def test_staff_review_held_entries_once(world, decision, status, told):
    held = entry(world, status="held", hold_reason="Claimed late.")
    client = signed_in(world.admin)

    done = post(client, world, "review", [held], decision=decision, reason="Checked with the family.")
    again = post(client, world, "review", [held], decision=decision, reason="Checked with the family.")

    assert done.status_code == 302
    assert told in client.get(done["Location"]).content.decode()
    assert again.status_code == 400
    assert "not held for review in this school" in again.content.decode()
    assert EarningEntry.objects.get(pk=held.pk).status == status
    assert ActivityLog.objects.filter(verb__startswith="earnings.re").count() == 1


def test_a_review_needs_a_decision_and_a_short_reason(world):
    held = entry(world, status="held", hold_reason="Claimed late.")

    response = post(signed_in(world.owner), world, "review", [held], reason="x" * 501)

    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="review-decision-error"' in body
    assert 'aria-describedby="review-reason-error"' in body
    assert EarningEntry.objects.get(pk=held.pk).status == "held"


def test_staff_record_a_payout_once(world):
    first = entry(world, amount="30.00", status="approved")
    second = entry(world, amount="12.50", status="approved")
    client = signed_in(world.owner)

    done = post(client, world, "payout", [first, second], reference="SEPA 2026-11")
    again = post(client, world, "payout", [first, second], reference="SEPA 2026-11")

    assert done.status_code == 302
    assert "Recorded a payout of 42.50 EUR for 2 entries." in client.get(done["Location"]).content.decode()
    assert again.status_code == 400
    assert "Only approved entries can be paid" in again.content.decode()
    payout = Payout.objects.get()
    assert (payout.amount, payout.reference, payout.teacher_id) == (Decimal("42.50"), "SEPA 2026-11", world.teacher.pk)
    assert set(EarningEntry.objects.values_list("status", "payout_id")) == {("paid", payout.pk)}


def test_a_payout_names_only_the_pages_teachers_entries(world):
    theirs = entry(world, world.other_teacher, status="approved")

    response = post(signed_in(world.owner), world, "payout", [theirs])

    assert response.status_code == 400
    assert f"unknown for this teacher in this school: {theirs.pk}." in response.content.decode()
    assert not Payout.objects.exists()


def test_a_payout_reference_that_is_too_long_is_told_next_to_it(world):
    approved = entry(world, status="approved")

    response = post(signed_in(world.owner), world, "payout", [approved], reference="r" * 101)

    assert response.status_code == 400
    assert 'aria-describedby="payout-reference-error"' in response.content.decode()
    assert not Payout.objects.exists()


# --- Pieces. ---------------------------------------------------------------------------------------------------------


def test_the_chart_scales_to_the_largest_period_and_draws_nothing_below_a_hairline():
    bars = _chart([{"earned": "200.00"}, {"earned": "50.00"}, {"earned": "-5.00"}])
    empty = _chart([{"earned": "0.00"}])

    assert [(bar["x"], bar["y"], bar["height"]) for bar in bars["bars"]] == [
        (1, "0.00", "100.00"),
        (11, "75.00", "25.00"),
        (21, "99.50", "0.50"),
    ]
    assert (bars["width"], bars["height"]) == (30, 100)
    assert empty["bars"][0]["height"] == "0.50"


def test_periods_are_named_by_their_length():
    start = datetime(2026, 11, 23, tzinfo=UTC).date()

    assert _period_label(start, GroupBy.MONTH) == "Nov 2026"
    assert _period_label(start, GroupBy.WEEK) == "Week of 23 Nov 2026"
    assert _period_label(start, GroupBy.DAY) == "Mon 23 Nov 2026"


def test_a_models_time_is_shown_in_the_schools_zone_too():
    from chalkboard.web.templatetags.chalkboard_web import local_time

    assert local_time(datetime(2026, 7, 1, 9, 30, tzinfo=UTC), "Europe/Lisbon") == "Wed 1 Jul, 10:30"
