"""Chunked bodies through real servers, in every serving mode: ``make serve``'s uvicorn, uvicorn on its other
parser (h11), and ``bin/serve-production`` (gunicorn's sync workers). A chunked body is read and used like
one with a Content-Length; one over the limit is a 413 as soon as it passes the limit, though the client
never finishes sending it, and before anyone is authenticated."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.security.live_site import MODES, Server, Site, chunked, raw_request, serving, site_create

pytestmark = pytest.mark.wall_clock

LIMIT = 1024 * 1024  # MAX_REQUEST_BYTES's default


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return site_create(tmp_path_factory.mktemp("bodies"))


@pytest.fixture(scope="module", params=list(MODES))
def server(request: pytest.FixtureRequest, site: Site) -> Iterator[tuple[Server, int]]:
    with serving(request.param, site) as running:
        yield running, list(MODES).index(request.param)


def post(path: str, *, token: str | None = None, chunked_body: bool = True, length: int | None = None) -> str:
    head = f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nConnection: close"
    if token:
        head += f"\nAuthorization: Bearer {token}"
    if chunked_body:
        head += "\nTransfer-Encoding: chunked"
    if length is not None:
        head += f"\nContent-Length: {length}"
    return head


def session_detail(server: Server, site: Site, session_id: int) -> dict:
    head = f"GET /api/sessions/{session_id}/ HTTP/1.1\nHost: 127.0.0.1\nConnection: close"
    answer = raw_request(server.port, head + f"\nAuthorization: Bearer {site.seed['owner_token']}")
    assert answer.status == 200, answer.body
    return answer.json()


def test_a_chunked_no_show_keeps_its_staff_notes(server, site):
    running, index = server
    session_id = site.session(2 * index)
    note = {"visibility": "staff", "text": "Did not come; phoned the guardian."}
    body = json.dumps({"notes": [note]}).encode()

    answer = raw_request(
        running.port,
        post(f"/api/sessions/{session_id}/no-show/", token=site.seed["teacher_token"]),
        chunked(body[:9], body[9:30], body[30:]),
    )

    assert answer.status == 200, answer.body
    assert answer.json()["status"] == "no_show"
    notes = session_detail(running, site, session_id)["notes"]
    assert [(n["visibility"], n["text"]) for n in notes] == [(note["visibility"], note["text"])]
    assert site.query("SELECT visibility, text FROM scheduling_sessionnote WHERE session_id = ?", session_id) == [
        (note["visibility"], note["text"])
    ]


def test_a_chunked_cancellation_keeps_its_reason(server, site):
    running, index = server
    session_id = site.session(2 * index + 1)

    answer = raw_request(
        running.port,
        post(f"/api/sessions/{session_id}/cancel/", token=site.seed["owner_token"]),
        chunked(b'{"reason": ', b'"Teacher ill"}'),
    )

    assert answer.status == 200, answer.body
    assert answer.json()["status"] == "cancelled"
    stored = site.query("SELECT status, cancellation_reason FROM scheduling_session WHERE id = ?", session_id)
    assert stored == [("cancelled", "Teacher ill")]


def test_an_anonymous_chunked_upload_over_the_limit_is_a_413_before_it_ends(server, site):
    """The client sends a little more than the limit and never finishes: the answer cannot wait for the end
    (the read would time out), and it is 413, not 401."""
    running, _ = server
    piece = b"x" * 65536
    body = chunked(*([piece] * (LIMIT // len(piece) + 1)), finish=False)

    answer = raw_request(running.port, post(f"/api/sessions/{site.session(0)}/cancel/"), body)

    assert answer.status == 413, answer.body
    assert answer.json()["code"] == "too_large"
    assert "content-security-policy" in answer.headers  # answered by the application, in its usual dress


def test_a_declared_length_over_the_limit_is_a_413_without_reading_the_body(server, site):
    running, _ = server
    head = post(f"/api/sessions/{site.session(0)}/cancel/", chunked_body=False, length=6 * 1024**3)

    answer = raw_request(running.port, head, b'{"reason": ')

    assert answer.status == 413, answer.body
    assert answer.json()["code"] == "too_large"
