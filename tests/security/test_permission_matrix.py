"""Every endpoint, every method, every actor: the status the contract gives, lists that show exactly what the
actor may see, and no staff note, teacher's rate or other school's data in any body that should not have it.

The table is ``matrix.py``; each row is one test, each actor one request made in a savepoint that is rolled
back, so every actor meets the same data.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from tests.conftest import SchoolWorld
from tests.security.matrix import EXCLUDED_ROUTES, ROWS, Row, all_rows, route_of
from tests.security.scene import ACTORS, FOREIGN, Scene, build_scene, leaks

# An id no row of any table has: what "an object that does not exist" answers.
GHOST_ID = 2**40 + 7
MATRIX = all_rows()


@pytest.fixture
def scene(world: SchoolWorld, other_world: SchoolWorld) -> Scene:
    return build_scene(world, other_world)


def send(scene: Scene, row: Row, actor: str, ids: dict[str, int]) -> HttpResponse:
    """The actor's request, in a savepoint rolled back afterwards (and a cache emptied), so that no actor's
    write changes what the next one meets."""
    user = scene.user(actor)
    data = row.body(ids, user.email if user is not None else None) if row.body else None
    path = row.path.format_map(ids)
    call = getattr(scene.client(actor), row.method.lower())
    with transaction.atomic():
        response = call(path, data, format="json") if data is not None else call(path)
        transaction.set_rollback(True)
    cache.clear()
    return response


def body_of(response: HttpResponse) -> Any:
    if not response.content or "json" not in response.get("Content-Type", ""):
        return None
    return response.json()


def shape(response: HttpResponse) -> tuple[int, Any, Any]:
    body = body_of(response)
    if isinstance(body, dict) and "code" in body:
        return response.status_code, body["code"], sorted(body.get("fields") or {})
    return response.status_code, None, None


@functools.cache
def documented_statuses() -> dict[tuple[str, str], set[int]]:
    """The status codes the OpenAPI schema documents for each (path, method)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (path, method.upper()): {int(code) for code in operation["responses"]}
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }


def schema_path(row: Row) -> str:
    """``api/sessions/<id:session_id>/`` as the schema writes it: ``/api/sessions/{session_id}/``."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route_of(row.path))


@pytest.mark.parametrize("row", MATRIX, ids=lambda row: row.name)
def test_permission_matrix(row: Row, scene: Scene) -> None:
    ids = scene.home.ids()
    ghost_ids = dict.fromkeys(ids, GHOST_ID)
    problems: list[str] = []
    in_schema = row.method not in ("HEAD", "OPTIONS")  # Django's and DRF's own answers, not API operations
    documented = documented_statuses()[(schema_path(row), row.method)] if in_schema else set()
    for actor in ACTORS:
        response = send(scene, row, actor, ids)
        expected = row.expect[actor]
        if response.status_code != expected:
            problems.append(f"{actor}: {response.status_code} (expected {expected}) {response.content[:200]!r}")
            continue
        if in_schema and response.status_code not in documented:
            problems.append(f"{actor}: {response.status_code} is not among the schema's answers {sorted(documented)}")
        body = body_of(response)
        if found := leaks(scene, actor, body):
            problems.append(f"{actor}: the body shows {', '.join(sorted(set(found)))}")
        if (
            (actor in FOREIGN or expected == 404)
            and not row.capability
            and row.path.format_map(ghost_ids) != row.path.format_map(ids)
        ):
            ghost = send(scene, row, actor, ghost_ids)
            if shape(ghost) != shape(response):
                problems.append(f"{actor}: answers {shape(response)}, but {shape(ghost)} for an id that does not exist")
        if row.visible is not None and expected == 200 and row.method == "GET":
            filled, role = scene.persona(actor)
            wanted = row.visible(filled, role)
            listed = row.listed(body)
            if sorted(listed) != sorted(wanted):
                problems.append(f"{actor}: lists {sorted(listed)}, may see exactly {sorted(wanted)}")
            if row.counted and body["count"] != len(wanted):
                problems.append(f"{actor}: counts {body['count']}, may see {len(wanted)}")
    assert not problems, f"{row.name}\n" + "\n".join(problems)


@pytest.mark.django_db
def test_list_expectations_tell_the_schools_apart(world: SchoolWorld, other_world: SchoolWorld) -> None:
    """Each list's expectation for the owner is non-empty and shares nothing with the other school's, so
    "exactly what they may see" is a real claim."""
    scene = build_scene(world, other_world, actors=())
    for row in ROWS:
        if row.visible is None:
            continue
        home, away = row.visible(scene.home, "owner"), row.visible(scene.away, "owner")
        assert home, row.name
        assert away, row.name
        assert not home & away, row.name


def api_routes() -> dict[str, set[str]]:
    """Every route Django resolves under ``/api/``, with every method its view answers."""

    def walk_patterns(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern.callback

    routes: dict[str, set[str]] = {}
    for route, callback in walk_patterns(get_resolver().url_patterns):
        if not route.startswith("api/"):
            continue
        view = callback.view_class
        methods = {name.upper() for name in view.http_method_names if hasattr(view, name)}
        if "GET" in methods:
            methods.add("HEAD")  # Django answers HEAD with GET's handler
        routes.setdefault(route, set()).update(methods)
    return routes


def test_every_endpoint_and_method_is_in_the_matrix() -> None:
    routes = api_routes()
    covered = {(route_of(row.path), row.method) for row in MATRIX}
    missing = sorted(
        (route, method)
        for route, methods in routes.items()
        if route not in EXCLUDED_ROUTES
        for method in methods
        if (route, method) not in covered
    )
    assert not missing, f"Endpoints missing from the permission matrix: {missing}"
    stale = sorted(pair for pair in covered if pair[1] not in routes.get(pair[0], set()))
    assert not stale, f"Rows for endpoints that do not exist: {stale}"
    assert set(EXCLUDED_ROUTES) <= set(routes)


def test_the_matrix_has_one_row_per_endpoint_and_method() -> None:
    keys = [(route_of(row.path), row.method) for row in MATRIX]
    assert len(keys) == len(set(keys))
