"""Crafted input answers in the error shape, never 500: header bytes that are not UTF-8, JSON strings that are
not Unicode (lone surrogates), and amounts that do not fit the column that would hold them."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from chalkboard.earnings.models import EarningEntry, Payout
from chalkboard.scheduling.models import SessionNote, SessionStatus
from tests import factories as f
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

LONE_SURROGATES = ["\ud800", "\udfff", "a\udc00b"]


def error_shape(response, status):
    body = response.json()
    assert response.status_code == status, body
    assert response["Content-Type"].startswith("application/json")
    assert body["status"] == status
    assert set(body) <= {"status", "code", "message", "fields"}
    return body


def raw_json(value) -> bytes:
    """``value`` as JSON text, lone surrogates written as ``\\uXXXX`` escapes (as any JSON encoder does)."""
    return json.dumps(value, ensure_ascii=True).encode()


# --- Header bytes that are not UTF-8 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Bearer \xff\xfe",  # what a server hands Django for the bytes b"Bearer \xff\xfe" (latin-1)
        "Bearer \xc3\x28" + "a" * 62,
        "Bearer " + "\xe9" * 64,
        "bearer \x80",
    ],
)
def test_an_authorization_header_that_is_not_utf8_is_a_401(world, header):
    client = client_for(None)
    response = client.get("/api/me/", HTTP_AUTHORIZATION=header)
    body = error_shape(response, 401)
    assert body["code"] == "authentication_failed"
    logout = client.post("/api/auth/logout/", HTTP_AUTHORIZATION=header)
    assert error_shape(logout, 401)["code"] == "authentication_failed"


def test_a_header_beyond_latin1_is_a_401_not_a_500(world):
    """No server hands Django such a header (they decode bytes as latin-1), but a proxy or test client may."""
    response = client_for(None).get("/api/me/", HTTP_AUTHORIZATION="Bearer \u2603")
    assert error_shape(response, 401)["code"] == "authentication_failed"


# --- Lone surrogates in JSON strings -----------------------------------------------------------------------


def post_raw(client, url, payload):
    return client.generic("POST", url, raw_json(payload), content_type="application/json")


def assert_refused_without_echo(response, value):
    body = error_shape(response, 400)
    assert body["code"] == "parse_error"
    assert "surrogate" in body["message"]
    text = response.content.decode()
    assert value not in text
    assert value.encode("utf-8", "surrogatepass").hex() not in text
    assert json.dumps(value)[1:-1].lower() not in text.lower()  # not even as an escape


@pytest.fixture
def started(world):
    return f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=2))


def completion(started, *, status="present", visibility="shared", text="Fine"):
    seat = started.attendees.get()
    return {
        "attendance": [{"student_id": seat.student_id, "status": status}],
        "actual_duration_minutes": 50,
        "notes": [{"visibility": visibility, "text": text}],
    }


@pytest.mark.parametrize("value", LONE_SURROGATES)
@pytest.mark.parametrize("field", ["status", "visibility", "text"])
def test_a_lone_surrogate_in_a_completion_is_a_400_that_does_not_echo_it(world, started, field, value):
    response = post_raw(
        client_for(world.teacher.user), f"/api/sessions/{started.pk}/complete/", completion(started, **{field: value})
    )
    assert_refused_without_echo(response, value)
    started.refresh_from_db()
    assert started.status == "scheduled"
    assert not SessionNote.objects.filter(session=started).exists()


@pytest.mark.parametrize("value", LONE_SURROGATES)
def test_a_lone_surrogate_in_an_assessment_kind_is_a_400(world, value):
    subject = world.session.subject
    payload = {"student_id": world.student.pk, "subject_id": subject.pk, "kind": value, "score": 5, "max_score": 10}
    response = post_raw(client_for(world.teacher.user), "/api/assessments/", payload)
    assert_refused_without_echo(response, value)


@pytest.mark.parametrize("value", LONE_SURROGATES)
def test_a_lone_surrogate_in_a_role_or_a_key_is_a_400(world, value):
    client = client_for(world.owner)
    url = f"/api/schools/{world.school.pk}/members/"
    for payload in (
        {"email": "new.member@example.test", "full_name": "New Member", "role": value},
        {"email": "new.member@example.test", "full_name": "New Member", "role": "admin", value: "x"},
    ):
        assert_refused_without_echo(post_raw(client, url, payload), value)


def test_a_lone_surrogate_in_a_cancellation_reason_is_a_400_and_nothing_is_cancelled(world):
    response = post_raw(
        client_for(world.owner), f"/api/sessions/{world.session.pk}/cancel/", {"reason": "ill \ud83d today"}
    )
    assert_refused_without_echo(response, "\ud83d")
    world.session.refresh_from_db()
    assert (world.session.status, world.session.cancellation_reason) == (SessionStatus.SCHEDULED, "")


def test_a_surrogate_pair_is_ordinary_text(world):
    """Escaped as a pair, the two halves make one character (U+1F600): that is valid, and kept."""
    response = post_raw(
        client_for(world.owner), f"/api/sessions/{world.session.pk}/cancel/", {"reason": "ill \ud83d\ude00"}
    )
    assert response.status_code == 200
    world.session.refresh_from_db()
    assert world.session.cancellation_reason == "ill \U0001f600"


# --- Amounts that do not fit their column ------------------------------------------------------------------


def approved_entry(world, amount):
    return EarningEntry.objects.create(
        school=world.school,
        teacher=world.teacher,
        amount=Decimal(amount),
        currency=world.school.currency,
        minutes=720,
        hourly_rate=Decimal("99999999.99"),
        earned_at=timezone.now() - timedelta(days=1),
        status="approved",
    )


def test_a_payout_larger_than_its_column_is_a_400_and_nothing_is_paid(world):
    """Each entry fits ``numeric(12,2)``; their sum does not. PostgreSQL would refuse the row (a 500), SQLite
    would store it: both answer 400 before the database sees it."""
    entries = [approved_entry(world, "1199999999.88") for _ in range(9)]
    payload = {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [e.pk for e in entries]}

    response = client_for(world.owner).post("/api/payouts/", payload, format="json")

    body = error_shape(response, 400)
    assert body["code"] == "amount_too_large"
    assert "10 digits before the decimal point" in body["message"]
    assert "entry_ids" in body["fields"]
    assert not Payout.objects.exists()
    assert set(EarningEntry.objects.values_list("status", flat=True)) == {"approved"}


def test_the_largest_payout_that_fits_is_paid(world):
    entries = [approved_entry(world, "1199999999.88") for _ in range(8)] + [approved_entry(world, "400000000.95")]
    payload = {"school_id": world.school.pk, "teacher_id": world.teacher.pk, "entry_ids": [e.pk for e in entries]}

    response = client_for(world.owner).post("/api/payouts/", payload, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "9999999999.99"
    assert Payout.objects.get().amount == Decimal("9999999999.99")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_payout_larger_than_its_column_is_a_400_on_postgresql(world):
    test_a_payout_larger_than_its_column_is_a_400_and_nothing_is_paid(world)
