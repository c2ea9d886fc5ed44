"""Rate limits per scope, and the limits on what one request may ask: body size, nesting, string length,
page size, date ranges and content types. Every refusal answers in the one JSON error shape, never 500."""

from __future__ import annotations

import json
import runpy
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.test import override_settings
from django.urls import include, path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from chalkboard.common.errors import exception_handler
from chalkboard.common.pagination import MAX_PAGE_SIZE
from chalkboard.common.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from chalkboard.common.throttling import Quota, quota_take, quota_to_report
from chalkboard.schools.models import Subject
from tests import factories as f
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

NOW = "2026-11-27 10:00:10"  # 50 seconds left in the minute's window: Reset and Retry-After are 51
MIB = 1024 * 1024


def error_shape(response, status):
    body = response.json()
    assert response.status_code == status, body
    assert response["Content-Type"].startswith("application/json")
    assert body["status"] == status
    assert isinstance(body["code"], str)
    assert isinstance(body["message"], str)
    assert set(body) <= {"status", "code", "message", "fields"}
    return body


@contextmanager
def rates(**scopes):
    """The test's rates for some scopes; the others stay out of the way."""
    current = settings.REST_FRAMEWORK
    merged = {**current["DEFAULT_THROTTLE_RATES"], **scopes}
    with override_settings(REST_FRAMEWORK={**current, "DEFAULT_THROTTLE_RATES": merged}):
        yield


def login(client, email, password=f.PASSWORD, **extra):
    return client.post("/api/auth/token/", {"email": email, "password": password}, format="json", **extra)


# --- Configuration --------------------------------------------------------------------------------------


def test_every_scope_reads_its_rate_from_the_environment(monkeypatch):
    base = Path(__file__).resolve().parents[2] / "config" / "settings" / "base.py"
    defaults = runpy.run_path(str(base))["THROTTLE_RATES"]
    scopes = {"user", "login_address", "login_account_address", "login_account", "tokens_issued"}
    scopes |= {"dashboard", "export", "ws_ticket", "calendar_feed"}
    assert set(defaults) == scopes

    for scope in defaults:
        monkeypatch.setenv(f"THROTTLE_{scope.upper()}", "7/hour")
    configured = runpy.run_path(str(base))

    assert configured["THROTTLE_RATES"] == dict.fromkeys(defaults, "7/hour")
    assert configured["REST_FRAMEWORK"]["DEFAULT_THROTTLE_RATES"] == configured["THROTTLE_RATES"]


def test_the_default_rates_are_tighter_for_expensive_endpoints():
    defaults = runpy.run_path(str(Path(__file__).resolve().parents[2] / "config" / "settings" / "base.py"))
    per_minute = {scope: _per_minute(rate) for scope, rate in defaults["THROTTLE_RATES"].items()}
    for scope in ("dashboard", "export", "ws_ticket"):
        assert per_minute[scope] < per_minute["user"]
    assert per_minute["login_account_address"] < per_minute["login_address"] < per_minute["user"]
    # The ceiling per account is much higher than what one address may try: many addresses must join in.
    assert per_minute["login_account"] >= 10 * per_minute["login_account_address"]


def _per_minute(rate):
    count, period = rate.split("/")
    return int(count) * 60 / {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


# --- The user scope, and the RateLimit headers ---------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_successful_answers_carry_the_rate_limit_headers_of_the_user_scope():
    client = client_for(f.UserFactory())
    with rates(user="3/min"):
        answers = [client.get("/api/me/") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [answer["RateLimit-Remaining"] for answer in answers] == ["2", "1", "0"]
    assert {answer["RateLimit-Limit"] for answer in answers} == {"3"}
    assert {answer["RateLimit-Reset"] for answer in answers} == {"51"}
    assert "Retry-After" not in answers[0]


@time_machine.travel(NOW, tick=False)
def test_past_the_limit_a_429_in_the_error_shape_with_retry_after_until_the_window_ends():
    user = f.UserFactory()
    client = client_for(user)
    with rates(user="2/min"):
        client.get("/api/me/")
        client.get("/api/me/")
        refused = client.get("/api/me/")
        other_user = client_for(f.UserFactory()).get("/api/me/")
        with time_machine.travel("2026-11-27 10:01:00", tick=False):
            next_window = client.get("/api/me/")

    body = error_shape(refused, 429)
    assert body["code"] == "throttled"
    assert refused["Retry-After"] == "51"
    assert (refused["RateLimit-Limit"], refused["RateLimit-Remaining"], refused["RateLimit-Reset"]) == ("2", "0", "51")
    assert other_user.status_code == 200
    assert next_window.status_code == 200
    assert next_window["RateLimit-Remaining"] == "1"


@time_machine.travel(NOW, tick=False)
def test_anonymous_requests_count_per_address():
    with rates(user="1/min"):
        first = client_for(None).get("/api/me/", REMOTE_ADDR="10.0.0.1")
        second = client_for(None).get("/api/me/", REMOTE_ADDR="10.0.0.1")
    # Not authenticated is decided before the throttle: the address's quota is not spent by a 401.
    assert (first.status_code, second.status_code) == (401, 401)


def test_with_the_cache_down_requests_pass_without_rate_limit_headers():
    client = client_for(f.UserFactory())
    with rates(user="1/min"), mock.patch.object(cache, "add", side_effect=ConnectionError):
        answers = [client.get("/api/me/") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert "RateLimit-Limit" not in answers[0]


def test_a_cache_that_swallows_its_errors_lets_requests_pass():
    """django-redis with IGNORE_EXCEPTIONS answers None instead of raising."""
    with mock.patch.object(cache, "add", return_value=None):
        assert quota_take(scope="user", ident="x", rate="1/min") is None


def test_the_headers_report_the_refusing_quota_else_the_closest_to_its_limit():
    request = mock.Mock(spec=[])
    assert quota_to_report(request) is None

    roomy, tight = Quota("user", 100, 10, 30), Quota("dashboard", 5, 4, 30)
    request.rate_limit_quotas = [roomy, tight]
    assert quota_to_report(request) == tight

    refused = Quota("export", 5, 6, 12)
    request.rate_limit_quotas = [roomy, refused, tight]
    assert quota_to_report(request) == refused
    assert refused.headers() == {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "12",
        "Retry-After": "12",
    }


# --- Tighter scopes for expensive endpoints --------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_dashboards_count_against_their_own_tighter_scope(world):
    client = client_for(world.teacher.user)
    url = f"/api/teachers/{world.teacher.pk}/dashboard/"
    with rates(user="100/min", dashboard="2/min"):
        first, second, third = (client.get(url) for _ in range(3))
        elsewhere = client.get("/api/me/")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first["RateLimit-Limit"] == "2"  # the tighter quota is the one reported
    assert second["RateLimit-Remaining"] == "0"
    assert error_shape(third, 429)["code"] == "throttled"
    assert third["Retry-After"] == "51"
    assert third["RateLimit-Limit"] == "2"
    assert elsewhere.status_code == 200
    assert elsewhere["RateLimit-Limit"] == "100"


@time_machine.travel(NOW, tick=False)
def test_a_not_modified_dashboard_counts_too(world):
    client = client_for(world.teacher.user)
    url = f"/api/teachers/{world.teacher.pk}/dashboard/"
    with rates(dashboard="2/min"):
        etag = client.get(url)["ETag"]
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 429


@pytest.mark.parametrize(
    ("params", "headers"),
    [({"format": "csv"}, {}), ({}, {"HTTP_ACCEPT": "text/csv"})],
    ids=["format=csv", "Accept: text/csv"],
)
@time_machine.travel(NOW, tick=False)
def test_csv_exports_count_against_the_export_scope(world, params, headers):
    client = client_for(world.teacher.user)
    url = f"/api/teachers/{world.teacher.pk}/earnings/"
    with rates(export="1/min"):
        assert client.get(url).status_code == 200  # the JSON summary is not an export
        assert client.get(url).status_code == 200
        exported = client.get(url, params, **headers)
        refused = client.get(url, params, **headers)
        summary = client.get(url)

    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("text/csv")
    assert exported["RateLimit-Limit"] == "1"
    body = error_shape(refused, 429)  # JSON, even though CSV was asked for
    assert body["code"] == "throttled"
    assert refused["Retry-After"] == "51"
    assert summary.status_code == 200


class _TicketStub(APIView):
    def post(self, request):
        return Response({"ticket": "t"})


urlpatterns = [
    path("api/auth/ws-ticket/", _TicketStub.as_view(), name="auth-ws-ticket"),
    path("", include("config.urls")),
]


@override_settings(ROOT_URLCONF=__name__)
@time_machine.travel(NOW, tick=False)
def test_the_websocket_ticket_endpoint_counts_against_its_scope_by_its_route_name():
    client = client_for(f.UserFactory())
    with rates(ws_ticket="2/min"):
        answers = [client.post("/api/auth/ws-ticket/").status_code for _ in range(3)]
        other = client.get("/api/me/")
    assert answers == [200, 200, 429]
    assert other.status_code == 200


# --- The token endpoint -----------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_logins_are_limited_per_address_with_rate_limit_headers_on_the_refusal(api_client):
    user = f.UserFactory()
    with rates(login_address="2/min"):
        assert login(api_client, user.email).status_code == 200
        assert login(api_client, user.email, "wrong").status_code == 400
        refused = login(api_client, user.email)
    assert error_shape(refused, 429)["code"] == "throttled"
    assert refused["Retry-After"] == "51"
    assert (refused["RateLimit-Limit"], refused["RateLimit-Remaining"]) == ("2", "0")


@time_machine.travel(NOW, tick=False)
def test_failed_logins_are_limited_per_account_and_address_and_a_success_does_not_count(api_client):
    user = f.UserFactory()
    with rates(login_account_address="2/min"):
        for _ in range(3):
            assert login(api_client, user.email).status_code == 200
        assert login(api_client, user.email, "wrong").status_code == 400
        assert login(api_client, user.email, "wrong").status_code == 400
        refused = login(api_client, user.email)  # the right password, but this address is locked for now
        other = login(api_client, f.UserFactory().email)
        elsewhere = login(api_client, user.email, REMOTE_ADDR="192.0.2.44")
    assert error_shape(refused, 429)["code"] == "throttled"
    assert refused["RateLimit-Limit"] == "2"
    assert other.status_code == 200
    assert elsewhere.status_code == 200


@time_machine.travel(NOW, tick=False)
def test_an_owner_who_never_signed_in_is_only_refused_once_the_per_account_ceiling_is_reached(api_client):
    owner = f.UserFactory()
    with rates(login_account_address="5/min", login_account="20/min"):
        spread = [login(api_client, owner.email, "guess", REMOTE_ADDR=f"203.0.113.{n}").status_code for n in range(19)]
        first_time = login(api_client, owner.email, REMOTE_ADDR="198.51.100.7")
        twenty_first = login(api_client, owner.email, "guess", REMOTE_ADDR="203.0.113.99")
    assert spread == [400] * 19
    assert first_time.status_code == 200  # its attempt is taken back: the ceiling still has one left
    assert twenty_first.status_code == 400


@time_machine.travel(NOW, tick=False)
def test_tokens_issued_per_account_are_limited(api_client):
    user = f.UserFactory()
    with rates(tokens_issued="2/hour"):
        assert [login(api_client, user.email).status_code for _ in range(2)] == [200, 200]
        refused = login(api_client, user.email)
        other = login(api_client, f.UserFactory().email)
    assert error_shape(refused, 429)["code"] == "throttled"
    assert refused["RateLimit-Limit"] == "2"
    assert int(refused["Retry-After"]) == 3600 - 10 + 1
    assert other.status_code == 200


# --- Request bodies -----------------------------------------------------------------------------------


def big_json(size):
    """A JSON object of about ``size`` bytes."""
    return json.dumps({"name": "x" * size})


@pytest.mark.parametrize("path", ["/api/auth/token/", "/api/subjects/", "/api/me/"])
def test_a_body_over_the_limit_is_a_413_in_the_error_shape(world, path):
    client = client_for(world.owner)
    response = client.generic("POST", path, big_json(MIB + 1), content_type="application/json")
    body = error_shape(response, 413)
    assert body["code"] == "too_large"
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["message"]


def test_a_body_just_under_the_limit_is_read_and_judged_on_its_content(world):
    client = client_for(world.owner)
    payload = json.dumps({"school_id": world.school.pk, "name": "x" * (MIB - 100)})
    assert len(payload) <= MIB
    body = error_shape(client.generic("POST", "/api/subjects/", payload, content_type="application/json"), 400)
    assert set(body["fields"]) == {"name"}


def test_the_limit_follows_the_setting(world):
    client = client_for(world.owner)
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        response = client.generic("POST", "/api/subjects/", big_json(2000), content_type="application/json")
    assert error_shape(response, 413)["message"] == "The request body is larger than 1000 bytes."
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=None):
        response = client.generic("POST", "/api/subjects/", big_json(2000), content_type="application/json")
    assert response.status_code == 400


def test_a_malformed_content_length_is_not_a_crash(world):
    client = client_for(world.owner)
    response = client.generic("POST", "/api/subjects/", "{}", content_type="application/json", CONTENT_LENGTH="abc")
    assert response.status_code in {400, 415}
    error_shape(response, response.status_code)


def test_a_body_too_big_found_while_reading_is_a_413_too():
    response = exception_handler(RequestDataTooBig("too big"), {})
    assert response.status_code == 413
    assert response.data == {"status": 413, "code": "too_large", "message": "The request body is too large."}


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("application/x-www-form-urlencoded", "email=a%40b.c&password=x"),
        ("multipart/form-data; boundary=xyz", '--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--xyz--'),
        ("text/plain", '{"email": "a@b.c"}'),
        ("application/xml", "<login/>"),
        ("text/csv", "email,password"),
    ],
)
def test_a_body_that_is_not_json_is_a_415_in_the_error_shape(api_client, content_type, payload):
    response = api_client.generic("POST", "/api/auth/token/", payload, content_type=content_type)
    assert error_shape(response, 415)["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b'{"email": "a@b.c", "password": }',
        b"\xff\xfe not utf-8",
        b'{"email": NaN, "password": Infinity}',
        b"[" * 50_000 + b"]" * 50_000,  # far past Python's recursion limit
        json.dumps(json.loads("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))).encode(),
    ],
    ids=["truncated", "invalid", "not-utf8", "nan", "deeply-nested", "just-too-deep"],
)
def test_malformed_or_deeply_nested_json_is_a_400(api_client, payload):
    response = api_client.generic("POST", "/api/auth/token/", payload, content_type="application/json")
    assert error_shape(response, 400)["code"] == "parse_error"


def test_nesting_up_to_the_limit_is_parsed_and_then_validated(world):
    nested = {"x": 1}
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = {"x": nested}
    payload = {"school_id": world.school.pk, "name": nested}
    assert not json_depth_exceeds(payload, MAX_JSON_DEPTH)
    response = client_for(world.owner).post("/api/subjects/", payload, format="json")
    assert set(error_shape(response, 400)["fields"]) == {"name"}


def test_depth_is_counted_in_lists_and_objects():
    assert not json_depth_exceeds("text", 1)
    assert not json_depth_exceeds({"a": [1, 2]}, 2)
    assert json_depth_exceeds({"a": [1, 2]}, 1)
    assert json_depth_exceeds([[[]]], 2)


def test_huge_and_odd_values_are_a_400(world):
    client = client_for(world.teacher.user)
    started = f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=1))
    url = f"/api/sessions/{started.pk}/complete/"
    attendance = [{"student_id": world.student.pk, "status": "present"}]
    for payload in (
        {"attendance": attendance, "actual_duration_minutes": 10**30},
        {"attendance": attendance, "actual_duration_minutes": 1e308},
        {"attendance": attendance, "actual_duration_minutes": "sixty"},
        {"attendance": [{"student_id": 2**70, "status": "present"}], "actual_duration_minutes": 60},
        {"attendance": "everyone", "actual_duration_minutes": 60},
        {"attendance": attendance * 1000, "actual_duration_minutes": 60},
        [1, 2, 3],
        "a string",
    ):
        response = client.post(url, payload, format="json")
        assert response.status_code == 400, (payload, response.content[:200])
        error_shape(response, 400)


# --- Very long strings --------------------------------------------------------------------------------

LONG = "x" * 500_000


def test_very_long_credentials_are_a_400(api_client):
    for payload in (
        {"email": f"{LONG}@example.test", "password": "x"},
        {"email": "someone@example.test", "password": LONG},
    ):
        body = error_shape(api_client.post("/api/auth/token/", payload, format="json"), 400)
        assert body["fields"]


def test_very_long_strings_in_writes_are_a_400(world):
    owner, teacher = client_for(world.owner), client_for(world.teacher.user)
    started = f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=1))
    writes = [
        (owner, "/api/subjects/", {"school_id": world.school.pk, "name": LONG}, "name"),
        (owner, f"/api/schools/{world.school.pk}/", {"name": LONG}, "name"),
        (
            teacher,
            f"/api/sessions/{started.pk}/complete/",
            {
                "attendance": [{"student_id": world.student.pk, "status": "present"}],
                "actual_duration_minutes": 60,
                "notes": [{"visibility": "shared", "text": LONG}],
            },
            "notes",
        ),
        (
            teacher,
            "/api/assessments/",
            {
                "student_id": world.student.pk,
                "subject_id": world.session.subject_id,
                "kind": "quiz",
                "score": 1,
                "max_score": 2,
                "comments": LONG,
            },
            "comments",
        ),
    ]
    for client, url, payload, field in writes:
        method = client.patch if url.startswith("/api/schools/") else client.post
        body = error_shape(method(url, payload, format="json"), 400)
        assert field in body["fields"], (url, body)


def test_very_long_query_strings_are_a_400_or_ignored_never_a_500(world):
    client = client_for(world.owner)
    long_value = "x" * 20_000
    for url in (
        f"/api/sessions/?status={long_value}",
        f"/api/sessions/?from={long_value}",
        f"/api/assessments/?student_id={long_value}",
        f"/api/teachers/{world.teacher.pk}/earnings/?group_by={long_value}",
        f"/api/subjects/?page_size={long_value}",
    ):
        response = client.get(url)
        assert response.status_code in {200, 400}, (url, response.status_code)
        if response.status_code == 400:
            error_shape(response, 400)


# --- Page size -------------------------------------------------------------------------------------------


def test_page_size_above_the_maximum_is_clamped_to_it(world, django_assert_max_num_queries):
    Subject.objects.bulk_create(Subject(school=world.school, name=f"Extra {n:03}") for n in range(MAX_PAGE_SIZE + 5))
    client = client_for(world.owner)
    total = Subject.objects.filter(school=world.school).count()

    body = client.get("/api/subjects/?page_size=100000").json()

    assert len(body["results"]) == MAX_PAGE_SIZE
    assert body["count"] == total
    assert "page_size=100000" in body["next"] or "page=2" in body["next"]
    assert len(client.get("/api/subjects/?page_size=100000&page=2").json()["results"]) == total - MAX_PAGE_SIZE


@pytest.mark.parametrize("page_size", ["0", "-5", "abc", "1e3", ""])
def test_odd_page_sizes_fall_back_to_the_default(world, page_size):
    response = client_for(world.owner).get(f"/api/subjects/?page_size={page_size}")
    assert response.status_code == 200
    assert len(response.json()["results"]) <= 20


@pytest.mark.parametrize("page", ["999", "0", "abc"])
def test_a_page_that_does_not_exist_is_a_404_in_the_error_shape(world, page):
    response = client_for(world.owner).get(f"/api/subjects/?page={page}")
    assert error_shape(response, 404)["code"] == "not_found"


# --- Date ranges -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("from=2025-03-01&to=2025-01-01", {"to"}),
        ("from=2024-01-01&to=2025-06-01", {"to"}),
        ("from=yesterday", {"from"}),
        ("from=2025-13-45", {"from"}),
        ("from=0001-01-01", {"from"}),
        ("to=9999-12-31T23:59:59Z", {"to"}),
    ],
)
def test_session_list_ranges_are_bounded(world, query, fields):
    body = error_shape(client_for(world.owner).get(f"/api/sessions/?{query}"), 400)
    assert set(body["fields"]) == fields


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("from=2025-03-01&to=2025-01-01", {"from"}),
        ("from=2020-01-01&to=2025-01-01", {"from", "to"}),
        ("from=1900-01-01", {"from"}),
        ("to=9999-12-31", {"to"}),
        ("from=not-a-date", {"from"}),
    ],
)
def test_earnings_summary_and_export_ranges_are_bounded(world, query, fields):
    client = client_for(world.owner)
    summary = client.get(f"/api/teachers/{world.teacher.pk}/earnings/?{query}")
    assert set(error_shape(summary, 400)["fields"]) == fields
    export = client.get(f"/api/teachers/{world.teacher.pk}/earnings/?{query}&format=csv")
    assert set(error_shape(export, 400)["fields"]) == fields


@pytest.mark.parametrize(
    ("query", "fields"), [("from=1900-01-01", {"from"}), ("to=9999-12-31", {"to"}), ("from=x", {"from"})]
)
def test_earning_entry_dates_are_bounded(world, query, fields):
    """The entries list is paginated: a long range is fine, a day outside 1970 to 2999 is not."""
    client = client_for(world.owner)
    assert set(error_shape(client.get(f"/api/earnings/entries/?{query}"), 400)["fields"]) == fields
    assert client.get("/api/earnings/entries/?from=1970-01-01&to=2999-12-31").status_code == 200


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("from=tomorrow", {"from"}),
        ("from=2025-02-30", {"from"}),
        ("to=2025-01-01T10:00", {"to"}),  # a time needs its offset
        ("from=12345", {"from"}),
    ],
)
def test_assessment_list_dates_are_validated(world, query, fields):
    body = error_shape(client_for(world.owner).get(f"/api/assessments/?{query}"), 400)
    assert set(body["fields"]) == fields


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("from=0001-01-01", {"from"}),
        ("to=9999-12-31", {"to"}),
        ("from=0001-01-01T00:00:00%2B14:00", {"from"}),
        ("to=9999-12-31T23:59:59-12:00", {"to"}),
        ("from=1969-12-31T23:59:59Z", {"from"}),
        ("to=3000-01-01T00:00:00Z", {"to"}),
    ],
)
def test_assessment_list_dates_outside_1970_to_2999_are_a_400(world, other_world, query, fields):
    body = error_shape(client_for(world.owner).get(f"/api/assessments/?{query}"), 400)
    assert set(body["fields"]) == fields


def test_assessment_list_accepts_the_whole_range(world):
    response = client_for(world.owner).get("/api/assessments/?from=1970-01-01&to=2999-12-31")
    assert response.status_code == 200
