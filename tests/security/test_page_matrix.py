"""The permission matrix of the pages: every page route, for every actor of the API's matrix, signed in the
way a browser is (a session from the sign-in page), on the same scene. A page a person may not see is the
same 404 as one that does not exist; anyone not signed in is sent to sign in (302), and nothing of any
school is on the way. A guard fails on any page route the table does not list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import PASSWORD
from tests.security.scene import ACTORS, Scene, build_scene

pytestmark = pytest.mark.django_db

# Routes outside the API that are not pages of people's data.
NOT_PAGES = {"healthz", "readyz", "api/schema/", "api/docs/"}


@dataclass(frozen=True)
class PageRow:
    route: str  # as Django's resolver writes it
    endpoint: str  # "METHOD path", the path a template over the scene's ids
    cells: str  # the status of each actor, in the order of ``scene.ACTORS``
    signed_out_to: str = "/?next="  # where a 302 sends someone not signed in

    @property
    def method(self) -> str:
        return self.endpoint.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.endpoint.split(" ", 1)[1]

    @property
    def expect(self) -> dict[str, int]:
        statuses = [int(cell) for cell in self.cells.split()]
        assert len(statuses) == len(ACTORS), self.endpoint
        return dict(zip(ACTORS, statuses, strict=True))


# Actors: owner admin teacher other_teacher student other_student guardian other_guardian
#         foreign_owner foreign_admin foreign_teacher revoked (signed out) anonymous
PAGES = [
    # A signed-in person goes on from the sign-in page; the others are shown it.
    PageRow("", "GET /",
            "302 302 302 302 302 302 302 302 302 302 302 200 200"),
    # Teachers go on to their dashboard, owners and admins to their school, students and guardians to progress.
    PageRow("app/", "GET /app/",
            "302 302 302 302 302 302 302 302 302 302 302 302 302"),
    PageRow("app/teachers/<id:teacher_id>/dashboard/", "GET /app/teachers/{teacher}/dashboard/?school={school}",
            "200 200 200 404 404 404 404 404 404 404 404 302 302"),
    # The API's readers of a teacher's earnings: the teacher and the school's owners and admins.
    PageRow("app/teachers/<id:teacher_id>/earnings/", "GET /app/teachers/{teacher}/earnings/?school={school}",
            "200 200 200 404 404 404 404 404 404 404 404 302 302"),
    # Approvals, reviews and payouts: owners and admins only (an empty form is refused for its input).
    PageRow("app/teachers/<id:teacher_id>/earnings/", "POST /app/teachers/{teacher}/earnings/?school={school}",
            "400 400 403 404 404 404 404 404 404 404 404 302 302"),
    PageRow("app/teachers/<id:teacher_id>/earnings/csv/",
            "GET /app/teachers/{teacher}/earnings/csv/?school={school}",
            "200 200 200 404 404 404 404 404 404 404 404 302 302"),
    # A school's overview: its owners and admins; its own teachers, students and guardians get the 404 too.
    PageRow("app/schools/<id:school_id>/", "GET /app/schools/{school}/",
            "200 200 404 404 404 404 404 404 404 404 404 302 302"),
    PageRow("app/sessions/<id:session_id>/complete/", "GET /app/sessions/{started}/complete/",
            "200 200 200 404 403 404 403 404 404 404 404 302 302"),
    PageRow("app/sessions/<id:session_id>/complete/", "POST /app/sessions/{started}/complete/",
            "400 400 400 404 403 404 403 404 404 404 404 302 302"),
    # The API's readers of a student's progress: staff, the student's teachers, the student and guardians.
    PageRow("app/students/<id:student_id>/progress/", "GET /app/students/{student}/progress/",
            "200 200 200 404 200 404 200 404 404 404 404 302 302"),
    # Those who may assess the student: the school's staff and a teacher the student is assigned to.
    PageRow("app/students/<id:student_id>/assessments/new/", "GET /app/students/{student}/assessments/new/",
            "200 200 200 404 403 404 403 404 404 404 404 302 302"),
    PageRow("app/students/<id:student_id>/assessments/new/", "POST /app/students/{student}/assessments/new/",
            "400 400 400 404 403 404 403 404 404 404 404 302 302"),
    PageRow("sign-out/", "POST /sign-out/",
            "302 302 302 302 302 302 302 302 302 302 302 302 302", signed_out_to="/"),
]  # fmt: skip


@pytest.fixture
def scene(world: Any, other_world: Any) -> Scene:
    return build_scene(world, other_world, actors=())


def browser_of(scene: Scene, actor: str) -> Client:
    """The actor's browser: signed in through the sign-in page; ``revoked`` signed in, then out."""
    browser = Client()
    if actor == "anonymous":
        return browser
    user = scene.user("owner" if actor == "revoked" else actor)
    assert user is not None
    assert browser.post("/", {"email": user.email, "password": PASSWORD}).status_code == 302
    if actor == "revoked":
        assert browser.post("/sign-out/").status_code == 302
    return browser


@pytest.mark.parametrize("row", PAGES, ids=lambda row: row.endpoint)
def test_page_matrix(row: PageRow, scene: Scene) -> None:
    ids = scene.home.ids()
    away = {scene.away.world.school.name, scene.away.world.teacher.user.full_name}
    problems = []
    for actor in ACTORS:
        browser = browser_of(scene, actor)
        with transaction.atomic():
            response = getattr(browser, row.method.lower())(row.path.format_map(ids))
            transaction.set_rollback(True)
        cache.clear()
        expected = row.expect[actor]
        if response.status_code != expected:
            problems.append(f"{actor}: {response.status_code} (expected {expected})")
        body = response.content.decode()
        if actor not in {"foreign_owner", "foreign_admin", "foreign_teacher"} and any(name in body for name in away):
            problems.append(f"{actor}: the page shows another school's people")
        if (
            expected == 302
            and actor in {"revoked", "anonymous"}
            and not response["Location"].startswith(row.signed_out_to)
        ):
            problems.append(f"{actor}: sent to {response['Location']}, not to sign in")
    assert not problems, f"{row.endpoint}\n" + "\n".join(problems)


def page_routes() -> set[str]:
    def walk(patterns: list[Any], prefix: str = "") -> Any:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    return {route for route in walk(get_resolver().url_patterns) if not route.startswith("api/")} - NOT_PAGES


def test_every_page_route_is_in_the_matrix() -> None:
    listed = {row.route for row in PAGES}

    assert page_routes() - listed == set(), "Pages missing from the page matrix"
    assert listed - page_routes() == set(), "Rows for pages that do not exist"
