"""Security headers on every response, a Content-Security-Policy that still lets the docs page work,
Cache-Control on API answers, and the CORS allow-list."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import runpy
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path

import config.urls
from chalkboard.common.middleware import API_CSP
from tests import factories as f
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
SIDECAR = "/static/drf_spectacular_sidecar/swagger-ui-dist"
ORIGIN = "https://app.chalkboard.example"


def directives(policy):
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def responses(world):
    """One response of every kind the app gives."""
    owner = client_for(world.owner)
    anonymous = client_for(None)
    return {
        "json": owner.get("/api/me/"),
        "list": owner.get("/api/sessions/"),
        "dashboard": owner.get(f"/api/teachers/{world.teacher.pk}/dashboard/"),
        "csv": owner.get(f"/api/teachers/{world.teacher.pk}/earnings/?format=csv"),
        "400": owner.get("/api/sessions/?from=nonsense"),
        "401": anonymous.get("/api/me/"),
        "404 api": owner.get("/api/sessions/999999999/"),
        "404 unknown url": anonymous.get("/api/no/such/thing"),
        "sign-in page": Client().get("/"),
        "404 page": Client().get("/no/such/page"),
        "405": owner.delete("/api/me/"),
        "413": owner.generic("POST", "/api/subjects/", "x" * (2 * 1024 * 1024), content_type="application/json"),
        "415": anonymous.generic("POST", "/api/auth/token/", "a=b", content_type="text/plain"),
        "healthz": anonymous.get("/healthz"),
        "readyz": anonymous.get("/readyz"),
        "schema": anonymous.get("/api/schema/"),
        "docs": anonymous.get("/api/docs/"),
        "docs script": anonymous.get("/api/docs/?script="),
        "static": anonymous.get(f"{SIDECAR}/swagger-ui.css"),
    }


PAGES = {"sign-in page", "404 page"}


def test_every_response_carries_the_security_headers(world):
    for kind, response in responses(world).items():
        for name, value in COMMON.items():
            if kind in PAGES and name == "Referrer-Policy":
                value = "same-origin"  # a page's own forms name their origin (CSRF); no other site learns its URL
            assert response.get(name) == value, (kind, name, response.get(name))
        policy = directives(response["Content-Security-Policy"])
        assert policy["frame-ancestors"] == ["'none'"], kind
        assert policy["default-src"] == ["'none'"], kind


def test_api_answers_get_the_strictest_policy(world):
    for kind, response in responses(world).items():
        if kind not in {"docs", *PAGES}:
            assert response["Content-Security-Policy"] == API_CSP, kind


def test_pages_allow_only_their_own_scripts_styles_and_socket(world):
    for kind in PAGES:
        policy = directives(responses(world)[kind]["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"], kind
        assert policy["style-src"] == ["'self'"], kind
        assert policy["connect-src"] == ["'self'"], kind
        assert policy["form-action"] == ["'self'"], kind
        assert "'unsafe-inline'" not in str(policy), kind


def test_the_docs_page_policy_allows_exactly_what_swagger_ui_loads(api_client):
    page = api_client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    policy = directives(page["Content-Security-Policy"])

    # Scripts: only files from this origin (the split view serves the start-up script as a file).
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert len(scripts) == 3
    for attributes, body in scripts:
        assert body.strip() == ""
        assert re.search(r'src="/', attributes)
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]
    assert "'unsafe-eval'" not in page["Content-Security-Policy"]

    # The page's inline stylesheet is allowed by its hash, and nothing else inline.
    styles = re.findall(r"<style[^>]*>(.*?)</style>", html, re.DOTALL)
    assert styles
    for style in styles:
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["style-src"]
    assert policy["style-src"][0] == "'self'"
    assert policy["img-src"] == ["'self'", "data:"]  # the CSS's inline icons
    assert policy["connect-src"] == ["'self'"]  # the schema and "Try it out"

    # Everything the page loads is served by the app itself, from this origin.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/"), url
        loaded = api_client.get(url)
        assert loaded.status_code == 200, url
    start = api_client.get("/api/docs/?script=")
    assert start["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in start.content
    assert b"/api/schema/" in start.content


def test_the_docs_page_hash_holds_when_the_page_is_compressed(api_client):
    plain = api_client.get("/api/docs/")["Content-Security-Policy"]
    compressed = api_client.get("/api/docs/", HTTP_ACCEPT_ENCODING="gzip")
    assert compressed["Content-Encoding"] == "gzip"
    assert compressed["Content-Security-Policy"] == plain


def _view_with_its_own_policy(request):
    return HttpResponse(
        "<p>sandboxed</p>",
        headers={"Content-Security-Policy": "default-src 'none'; sandbox", "Cache-Control": "max-age=5"},
    )


def _forbidden_outside_the_api_views(request):
    raise PermissionDenied


urlpatterns = [
    path("api/own-policy/", _view_with_its_own_policy),
    path("api/plain-forbidden/", _forbidden_outside_the_api_views),
]
handler403 = config.urls.handler403


@override_settings(ROOT_URLCONF=__name__)
def test_headers_a_view_sets_itself_are_kept(api_client):
    response = api_client.get("/api/own-policy/")
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == "max-age=5"
    assert response["X-Frame-Options"] == "DENY"


# --- Cache-Control -----------------------------------------------------------------------------------


def test_api_answers_are_not_stored_by_caches(world):
    all_kinds = responses(world)
    for kind in ("json", "list", "csv", "400", "401", "404 api", "405", "413", "415", "schema", "docs"):
        assert all_kinds[kind]["Cache-Control"] == "no-store", kind


def test_the_token_answer_is_not_stored(api_client):
    user = f.UserFactory()
    response = api_client.post("/api/auth/token/", {"email": user.email, "password": f.PASSWORD}, format="json")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_the_dashboard_keeps_its_own_revalidation_policy(world):
    client = client_for(world.teacher.user)
    first = client.get(f"/api/teachers/{world.teacher.pk}/dashboard/")
    assert first["Cache-Control"] == "private, no-cache"
    assert first["ETag"]
    again = client.get(f"/api/teachers/{world.teacher.pk}/dashboard/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again["Cache-Control"] == "private, no-cache"


def test_static_files_keep_their_caching(api_client):
    response = api_client.get(f"{SIDECAR}/swagger-ui.css")
    assert response["Cache-Control"] != "no-store"


# --- CORS ------------------------------------------------------------------------------------------------


def test_allowed_origins_come_from_the_environment(monkeypatch):
    base = Path(__file__).resolve().parents[2] / "config" / "settings" / "base.py"
    assert runpy.run_path(str(base))["CORS_ALLOWED_ORIGINS"] == []
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", f"{ORIGIN}, https://other.example")
    assert runpy.run_path(str(base))["CORS_ALLOWED_ORIGINS"] == [ORIGIN, "https://other.example"]


def test_by_default_no_origin_is_allowed(world):
    response = client_for(world.owner).get("/api/me/", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


@override_settings(CORS_ALLOWED_ORIGINS=[ORIGIN])
def test_an_allowed_origin_gets_the_cors_headers(world):
    client = client_for(world.owner)
    response = client.get("/api/me/", HTTP_ORIGIN=ORIGIN)
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Credentials" not in response
    exposed = {name.strip().lower() for name in response["Access-Control-Expose-Headers"].split(",")}
    assert {"retry-after", "ratelimit-remaining", "etag", "content-disposition"} <= exposed

    preflight = client.options(
        "/api/sessions/1/complete/",
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {name.strip().lower() for name in preflight["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in preflight


@override_settings(CORS_ALLOWED_ORIGINS=[ORIGIN])
def test_another_origin_gets_no_cors_headers(world):
    client = client_for(world.owner)
    for origin in (
        "https://evil.example",
        "https://app.chalkboard.example.evil.example",
        "null",
        "http://app.chalkboard.example",
    ):
        response = client.get("/api/me/", HTTP_ORIGIN=origin)
        assert "Access-Control-Allow-Origin" not in response, origin
        preflight = client.options(
            "/api/me/",
            HTTP_ORIGIN=origin,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
        )
        assert "Access-Control-Allow-Origin" not in preflight, origin


@override_settings(CORS_ALLOWED_ORIGINS=[ORIGIN])
def test_refusals_carry_the_cors_headers_so_the_browser_can_read_them(world):
    client = client_for(None)
    for response in (
        client.get("/api/me/", HTTP_ORIGIN=ORIGIN),
        client.generic(
            "POST", "/api/auth/token/", "x" * (2 * 1024 * 1024), content_type="application/json", HTTP_ORIGIN=ORIGIN
        ),
    ):
        assert response.status_code in {401, 413}
        assert response["Access-Control-Allow-Origin"] == ORIGIN


@override_settings(CORS_ALLOWED_ORIGINS=[ORIGIN])
def test_cors_applies_to_the_api_only(api_client):
    assert "Access-Control-Allow-Origin" not in api_client.get("/healthz", HTTP_ORIGIN=ORIGIN)


# --- Errors outside the API views, and the ASGI path ------------------------------------------------


def test_errors_outside_the_api_views_are_json_too(api_client):
    expected = {
        400: api_client.get("/healthz", HTTP_HOST="evil.example"),  # a host not in ALLOWED_HOSTS
        404: api_client.get("/api/no/such/page"),
    }
    with override_settings(ROOT_URLCONF=__name__):
        expected[403] = api_client.get("/api/plain-forbidden/")
    for status, response in expected.items():
        assert response.status_code == status
        assert response["Content-Type"] == "application/json"
        assert response.json()["status"] == status
        assert response["X-Frame-Options"] == "DENY"


def test_the_headers_and_the_body_limit_hold_under_asgi():
    client = AsyncClient()
    alive = async_to_sync(client.get)("/healthz")
    too_big = async_to_sync(client.post)("/api/subjects/", "x" * (2 * 1024 * 1024), content_type="application/json")
    assert alive.status_code == 200
    assert alive["Content-Security-Policy"] == API_CSP
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "too_large"
    for name, value in COMMON.items():
        assert alive[name] == value
        assert too_big[name] == value


# --- Exports -------------------------------------------------------------------------------------------


def test_a_csv_export_is_an_attachment_whose_cells_never_run_as_spreadsheet_formulas(world):
    from decimal import Decimal

    from django.utils import timezone

    from chalkboard.earnings.models import EarningEntry

    for text in ('=HYPERLINK("http://evil.example")', "+1+1", "-2", "@SUM(A1)"):
        EarningEntry.objects.create(
            school=world.school,
            teacher=world.teacher,
            session=f.session_for(world.teacher, world.student, starts_at=timezone.now()),
            kind="session",
            amount=Decimal("1.00"),
            currency="EUR",
            minutes=0,
            hourly_rate=Decimal("30.00"),
            earned_at=timezone.now(),
            description=text,
        )
    response = client_for(world.owner).get(f"/api/teachers/{world.teacher.pk}/earnings/?format=csv")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    descriptions = [row[-1] for row in rows[1:]]
    assert len(descriptions) == 4
    assert all(description.startswith("'") for description in descriptions)
