"""No secret or personal data in the logs: not the password of a failed login, not a bearer token, not an
email address, not the Authorization header, whatever happens (a refused login, a crash, a database outage).

``written`` captures what the configured console handler really writes (its filters and formatter
included); ``caplog`` sees the records themselves."""

from __future__ import annotations

import io
import logging
import sys

import pytest
from django.test import override_settings
from django.urls import include, path
from django.views.debug import ExceptionReporter
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

import config.urls
from chalkboard.accounts.apis import LoginApi
from chalkboard.common.logs import REDACTED, RedactSecrets, redact
from tests import factories as f
from tests.conftest import client_for
from tests.reliability.faults import database_down

SECRET_PASSWORD = "Tr0ub4dor&3-horse"
EMAIL = "ana.secret@example.test"


@pytest.fixture
def written():
    """What the configured console handler writes, as text."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(item, RedactSecrets) for item in handler.filters)
    ]
    assert len(handlers) == 1
    buffer = io.StringIO()
    previous = handlers[0].setStream(buffer)
    try:
        yield buffer
    finally:
        handlers[0].setStream(previous)


def assert_clean(text, *secrets):
    for secret in secrets:
        assert secret not in text
    assert "Authorization" not in text
    assert "Bearer " not in text


@pytest.fixture
def user(db):
    return f.UserFactory(email=EMAIL)


# --- The pipeline is configured for it ---------------------------------------------------------------


def test_every_handler_redacts_and_django_logs_only_through_them():
    root = logging.getLogger()
    assert root.handlers
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and not type(handler).__module__.startswith("_pytest"):
            assert any(isinstance(item, RedactSecrets) for item in handler.filters)
    django_logger = logging.getLogger("django")
    assert django_logger.handlers == []  # no mail_admins (its reports carry request headers), no own console
    assert django_logger.propagate


# --- A failed login, and a successful one ------------------------------------------------------------


@pytest.mark.django_db
def test_a_failed_login_logs_neither_the_password_nor_the_email(user, caplog, written):
    client = APIClient()
    with caplog.at_level(logging.DEBUG):
        response = client.post("/api/auth/token/", {"email": EMAIL, "password": SECRET_PASSWORD}, format="json")
        unknown = client.post(
            "/api/auth/token/", {"email": "nobody@example.test", "password": SECRET_PASSWORD}, format="json"
        )
    assert (response.status_code, unknown.status_code) == (400, 400)
    assert "Bad Request: /api/auth/token/" in written.getvalue()  # something is logged, and it is harmless
    for text in (caplog.text, written.getvalue()):
        assert_clean(text, SECRET_PASSWORD, EMAIL, "nobody@example.test")
    assert REDACTED not in caplog.text  # nothing had to be redacted: it was never logged


@pytest.mark.django_db
def test_a_successful_login_does_not_log_the_token(user, caplog, written):
    with caplog.at_level(logging.DEBUG):
        response = APIClient().post("/api/auth/token/", {"email": EMAIL, "password": f.PASSWORD}, format="json")
        token = response.json()["token"]
        APIClient().get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    for text in (caplog.text, written.getvalue()):
        assert_clean(text, token, f.PASSWORD, EMAIL)


# --- A crash (500) -----------------------------------------------------------------------------------


class _Crash(APIView):
    def post(self, request):
        request.data  # noqa: B018 - the body is read, as any view does
        raise RuntimeError("the view fell over")


class _CrashWithSecrets(APIView):
    """A careless crash whose message quotes the request: the logs must still not show it."""

    def post(self, request):
        raise RuntimeError(f"could not handle {request.data} with {request.headers['Authorization']}")


urlpatterns = [
    path("api/crash/", _Crash.as_view()),
    path("api/crash-with-secrets/", _CrashWithSecrets.as_view()),
    path("", include("config.urls")),
]
handler500 = config.urls.handler500


@pytest.fixture
def crashing_client(user):
    client = client_for(user)
    client.raise_request_exception = False
    return client


def token_of(client):
    return client._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_a_crash_is_a_json_500_and_its_log_holds_no_secret(crashing_client, caplog, written):
    body = {"email": EMAIL, "password": SECRET_PASSWORD}
    with caplog.at_level(logging.DEBUG):
        response = crashing_client.post("/api/crash/", body, format="json")

    assert response.status_code == 500
    assert response.json() == {"status": 500, "code": "server_error", "message": "Something went wrong on our side."}
    assert "the view fell over" not in response.content.decode()
    output = written.getvalue()
    assert "Internal Server Error: /api/crash/" in output
    assert "RuntimeError: the view fell over" in output  # the traceback is there for whoever debugs it
    for text in (caplog.text, output):
        assert_clean(text, SECRET_PASSWORD, EMAIL, token_of(crashing_client))
    assert REDACTED not in output


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_secrets_quoted_in_an_exception_are_redacted_from_what_is_written(crashing_client, written):
    token = token_of(crashing_client)
    response = crashing_client.post(
        "/api/crash-with-secrets/", {"email": EMAIL, "password": SECRET_PASSWORD}, format="json"
    )
    assert response.status_code == 500
    output = written.getvalue()
    assert "RuntimeError: could not handle" in output
    assert REDACTED in output
    for secret in (SECRET_PASSWORD, EMAIL, token):
        assert secret not in output


# --- A database outage (503) ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_logs_no_secret(user, caplog, written):
    client = client_for(user)
    with database_down(), caplog.at_level(logging.DEBUG):
        response = client.get("/api/me/")
    assert response.status_code == 503
    assert "database unavailable" in written.getvalue()
    for text in (caplog.text, written.getvalue()):
        assert_clean(text, token_of(client), EMAIL, "10.9.8.7", "password authentication failed")


# --- Django's error reports (DEBUG pages; mail to admins is not configured) ----------------------------


@pytest.mark.django_db
def test_error_reports_hide_the_password_the_token_and_the_authorization_header(user, monkeypatch):
    def token_store_down(**kwargs):
        raise RuntimeError("token store down")

    monkeypatch.setattr("chalkboard.accounts.services.AuthToken.objects.create", token_store_down)
    request = APIRequestFactory().post(
        "/api/auth/token/",
        {"email": EMAIL, "password": f.PASSWORD},
        format="json",
        HTTP_AUTHORIZATION="Bearer 0123456789abcdef",
    )
    with pytest.raises(RuntimeError) as raised:
        LoginApi.as_view()(request)
    report = ExceptionReporter(request, raised.type, raised.value, raised.tb, is_email=True).get_traceback_text()

    assert "token store down" in report
    assert f.PASSWORD not in report
    assert "0123456789abcdef" not in report


# --- The redaction itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("Authorization: Bearer abc.DEF-123_x=", "Authorization: Bearer [redacted]", "abc.DEF-123_x="),
        ("header token Token 9f8e7d", "Token [redacted]", "9f8e7d"),
        ('{"email": "ana@example.com", "password": "hunter2"}', '"password": [redacted]', "hunter2"),
        ("password=hunter2&next=/", "password=[redacted]&next=/", "hunter2"),
        ("new_password: 's3cret' saved", "new_password: [redacted] saved", "s3cret"),
        ("login failed for ana.maria+x@school.example.org", "login failed for [redacted]", "ana.maria"),
        ("key " + "ab" * 32 + " seen", "key [redacted] seen", "ab" * 32),
    ],
)
def test_redact(text, kept, gone):
    assert kept in redact(text)
    assert gone not in redact(text)


def test_redact_leaves_ordinary_text_alone():
    text = "GET /api/sessions/?status=scheduled 200 in 12ms (user 42, school 7) @ 2026-11-27T10:00:00+00:00"
    assert redact(text) == text


def test_the_filter_rewrites_message_arguments_and_traceback():
    try:
        raise ValueError(f"bad token Bearer {'c' * 64}")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "login of %s with %s", (EMAIL, "password=hunter2"), sys.exc_info()
        )
    assert RedactSecrets().filter(record) is True
    assert record.getMessage() == f"login of {REDACTED} with password={REDACTED}"
    assert "c" * 64 not in record.exc_text
    assert "Bearer [redacted]" in record.exc_text

    stacked = logging.LogRecord("x", logging.INFO, __file__, 1, "ok", (), None, sinfo=f"Stack: {EMAIL}")
    RedactSecrets().filter(stacked)
    assert EMAIL not in stacked.stack_info


def test_the_filter_keeps_a_malformed_record():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d apples", ("many",), None)
    assert RedactSecrets().filter(record) is True
    assert record.msg == "%d apples"


def test_the_filter_flattens_a_record_whose_arguments_cannot_be_redacted_apart():
    placeholder = logging.LogRecord("x", logging.INFO, __file__, 1, "user %s token=%s", ("ana", "abc123"), None)
    RedactSecrets().filter(placeholder)  # redacting the format alone would eat its second placeholder
    assert (placeholder.getMessage(), placeholder.args) == (f"user ana token={REDACTED}", None)

    no_args = logging.LogRecord("x", logging.INFO, __file__, 1, "ticket=abc123", None, None)
    RedactSecrets().filter(no_args)
    assert no_args.getMessage() == f"ticket={REDACTED}"


def test_the_filter_leaves_a_clean_record_as_it_is():
    args = ("127.0.0.1:5000", "GET", "/api/me/?since=3", "1.1", 200)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
    RedactSecrets().filter(record)
    assert (record.msg, record.args) == ('%s - "%s %s HTTP/%s" %d', args)
