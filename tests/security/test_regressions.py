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
