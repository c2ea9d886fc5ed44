from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from knox.models import AuthToken

from chalkboard.common.throttling import client_address
from tests import factories as f
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"


def login(api_client, email, password=f.PASSWORD, **extra):
    return api_client.post(TOKEN_URL, {"email": email, "password": password}, format="json", **extra)


def test_login_returns_a_token_that_authenticates(api_client):
    user = f.UserFactory(email="ana@example.test")

    response = login(api_client, "ANA@example.test")

    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {"id": user.pk, "email": "ana@example.test", "full_name": user.full_name}
    assert body["expires_at"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api_client.get("/api/me/").status_code == 200


def test_tokens_are_stored_hashed(api_client):
    f.UserFactory(email="ana@example.test")
    token = login(api_client, "ana@example.test").json()["token"]

    stored = AuthToken.objects.get()
    assert token not in (stored.digest, stored.token_key)
    assert stored.digest != token


def test_unknown_email_and_wrong_password_answer_alike(api_client):
    f.UserFactory(email="ana@example.test")

    unknown = login(api_client, "nobody@example.test")
    wrong = login(api_client, "ana@example.test", password="wrong")

    assert unknown.status_code == wrong.status_code == 400
    assert unknown.json() == wrong.json()
    assert wrong.json()["code"] == "invalid_credentials"


def test_inactive_user_cannot_log_in(api_client):
    f.UserFactory(email="ana@example.test", is_active=False)
    assert login(api_client, "ana@example.test").status_code == 400


def test_login_validates_input(api_client):
    response = api_client.post(TOKEN_URL, {"email": "not-an-email"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"email", "password"}


@time_machine.travel("2026-11-27 10:00:10", tick=False)
def test_repeated_failed_logins_for_one_account_are_throttled(api_client):
    f.UserFactory(email="ana@example.test")
    for _ in range(5):  # the test settings allow 5 per minute per account
        assert login(api_client, "ana@example.test", password="wrong").status_code == 400

    response = login(api_client, "ana@example.test")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "throttled"


@time_machine.travel("2026-11-27 10:00:10", tick=False)
def test_successful_logins_do_not_count_as_failures(api_client):
    f.UserFactory(email="ana@example.test")
    for _ in range(8):
        assert login(api_client, "ana@example.test").status_code == 200


@time_machine.travel("2026-11-27 10:00:10", tick=False)
def test_login_is_throttled_per_address(api_client, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login_address": "3/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        for n in range(3):
            assert login(api_client, f"user{n}@example.test").status_code == 400
        assert login(api_client, "another@example.test").status_code == 429
        other_address = login(api_client, "another@example.test", REMOTE_ADDR="10.0.0.9")
        assert other_address.status_code == 400


@time_machine.travel("2026-11-27 10:00:10", tick=False)
def test_behind_the_proxy_login_is_throttled_per_client_not_per_proxy(api_client, settings):
    """The proxy (a trusted peer) appends the client's address to X-Forwarded-For: that address counts."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login_address": "3/min"}
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        for n in range(3):
            response = login(api_client, f"user{n}@example.test", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
            assert response.status_code == 400
        refused = login(api_client, "another@example.test", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
        other_client = login(api_client, "another@example.test", HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy)
        # A client cannot pick its address by sending the header itself: only the proxy's last entry counts.
        spoofed = login(api_client, "another@example.test", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7", **proxy)
    assert (refused.status_code, other_client.status_code, spoofed.status_code) == (429, 400, 429)


@pytest.mark.parametrize(
    ("peer", "forwarded", "counted"),
    [
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
        ("::1", "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        ("127.0.0.1", "", "127.0.0.1"),  # the proxy itself, or a local client
        ("192.0.2.10", "203.0.113.7", "192.0.2.10"),  # not a trusted proxy: its header proves nothing
    ],
)
def test_the_client_address_is_the_trusted_proxys_last_entry(rf, peer, forwarded, counted):
    request = rf.get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == counted


def test_logout_revokes_the_token(api_client):
    f.UserFactory(email="ana@example.test")
    token = login(api_client, "ana@example.test").json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert api_client.post("/api/auth/logout/").status_code == 204
    response = api_client.get("/api/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_expired_token_is_refused():
    user = f.UserFactory()
    client = client_for(user)
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))

    assert client.get("/api/me/").status_code == 401


def test_token_of_a_deactivated_user_is_refused():
    user = f.UserFactory()
    client = client_for(user)
    user.is_active = False
    user.save()

    assert client.get("/api/me/").status_code == 401


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer nonsense-token", "Token abc"])
def test_malformed_credentials_are_refused(api_client, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)
    assert api_client.get("/api/me/").status_code == 401


def test_anonymous_gets_401_with_challenge(api_client):
    response = api_client.get("/api/me/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "status": 401,
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
    }


def test_me_lists_every_role_in_every_school(world, other_world):
    user = world.teacher.user
    f.member(school=world.school, role="admin", user=user)
    f.teacher_in(other_world.school, user=user)

    body = client_for(user).get("/api/me/").json()

    assert body["teacher_id"] == world.teacher.pk
    assert body["memberships"] == [
        {"school_id": world.school.pk, "school_name": "Lisbon Tutors", "roles": ["admin", "teacher"]},
        {"school_id": other_world.school.pk, "school_name": "Tokyo Tutors", "roles": ["teacher"]},
    ]


def test_me_of_a_student(world):
    body = client_for(world.student.user).get("/api/me/").json()

    assert body["teacher_id"] is None
    assert body["student_ids"] == [world.student.pk]


def test_token_info_costs_only_the_token_lookup(django_assert_num_queries):
    user = f.UserFactory()
    client = client_for(user)
    token = AuthToken.objects.get(user=user)

    with django_assert_num_queries(1):
        response = client.get("/api/auth/token/info/")

    assert response.status_code == 200
    assert response.json()["user_id"] == user.pk
    assert response.json()["expires_at"] == token.expiry.isoformat().replace("+00:00", "Z")


def test_token_info_needs_a_token(api_client):
    assert api_client.get("/api/auth/token/info/").status_code == 401
