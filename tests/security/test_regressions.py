"""Bugs the security suite found, each pinned where it was fixed."""

from __future__ import annotations

import pytest

from tests.conftest import SchoolWorld, client_for


@pytest.mark.parametrize(
    "path", ["/api/schools/", "/api/teachers/", "/api/students/", "/api/guardians/", "/api/subjects/", "/api/payouts/"]
)
def test_options_describes_the_endpoint_instead_of_failing(world: SchoolWorld, path: str) -> None:
    """DRF's default metadata asked list views for a serializer they do not declare: OPTIONS was a 500."""
    response = client_for(world.owner).options(path)
    assert response.status_code == 200
    assert set(response.json()) == {"name", "description", "renders", "parses"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/sessions/abc/",
        "/api/sessions/-3/",
        "/api/students/0/",
        "/api/goals/1.5/",
        "/api/no-such-endpoint/",
    ],
)
def test_a_url_no_route_matches_is_a_json_404(world: SchoolWorld, path: str) -> None:
    """It was Django's HTML page, outside the API's one error shape (and its schema)."""
    response = client_for(world.owner).get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": 404, "code": "not_found", "message": "Not found."}


@pytest.mark.parametrize(
    "path",
    [
        "/api/teachers/{big}/",
        "/api/students/{big}/",
        "/api/guardians/{big}/",
        "/api/schools/{big}/",
        "/api/schools/{big}/members/{big}/",
        "/api/subjects/{big}/",
        "/api/subjects/{big}/skills/",
        "/api/sessions/{big}/",
        "/api/sessions/{big}/cancel/",
    ],
)
@pytest.mark.parametrize("big", [2**63, 10**20])
def test_an_id_too_large_for_the_database_is_a_404(world: SchoolWorld, path: str, big: int) -> None:
    """A path id past 64 bits reached the database: a 500 on SQLite ("Python int too large")."""
    client = client_for(world.owner)
    for method in ("get", "patch", "delete", "post"):
        response = getattr(client, method)(path.format(big=big), {}, format="json")
        assert response.status_code in (404, 405), (method, response.status_code)
        if response.status_code == 404:
            assert response.json()["code"] == "not_found"


# Operations that take no bearer token: logging in, accepting an invitation by its mailed token, and a calendar
# feed read by its secret address.
PUBLIC_OPERATIONS = ("/api/auth/token/", "/api/invitations/accept/", "/api/calendar/{token}.ics")


def test_every_operation_documents_the_errors_any_request_may_get() -> None:
    """Schema conformance found answers the schema did not describe: 401 and 429 anywhere, 404 for a page past
    the last, 400 for an invalid filter, 403 for a member list asked by a non-admin, nested ``fields``."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            parameters = operation.get("parameters", [])
            assert "429" in codes, (method, path)
            assert "401" in codes or path in PUBLIC_OPERATIONS, (method, path)
            if any(p["in"] == "query" for p in parameters) or "requestBody" in operation:
                assert "400" in codes, (method, path)
            if any(p["in"] == "path" or p["name"] == "page" for p in parameters):
                assert "404" in codes, (method, path)
    assert "403" in schema["paths"]["/api/schools/{school_id}/members/"]["get"]["responses"]
    fields = schema["components"]["schemas"]["ErrorOutput"]["properties"]["fields"]
    assert fields["additionalProperties"] == {}  # any JSON: lists of messages, or nested like the input
