"""The teacher's day in a real browser: signing in by keyboard, the dashboard page, its accessibility, and
the page changing by itself when a session is completed elsewhere."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chalkboard.accounts.services import token_create
from tests import factories as f
from tests.browser.conftest import screenshot, serious_violations

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.wall_clock]

LIVE_WITHIN_MS = 5_000
CAUGHT_UP_WITHIN_MS = 15_000


def sign_in_by_keyboard(page: Any, site: Any, email: str) -> None:
    """Only the keyboard: Tab to each field, type, Enter."""
    page.goto(site.url + "/")
    for _ in range(3):  # the skip link, the home link, then the first field
        page.keyboard.press("Tab")
    expect(page.locator("#email")).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(f.PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/app/"))


def complete_over_http(site: Any, token: str, session_id: int, student_id: int) -> None:
    body = {"attendance": [{"student_id": student_id, "status": "present"}], "actual_duration_minutes": 45}
    request = urllib.request.Request(  # noqa: S310 - the test's own server, over http
        f"{site.url}/api/sessions/{session_id}/complete/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200


def test_a_teacher_signs_in_by_keyboard_and_sees_their_day(world, site, page):
    f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=3))

    sign_in_by_keyboard(page, site, world.teacher.user.email)

    expect(page).to_have_url(re.compile(rf"/app/teachers/{world.teacher.pk}/dashboard/\?school={world.school.pk}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(world.teacher.user.full_name)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.get_by_role("row", name=re.compile(re.escape(world.student.user.full_name)))).to_be_visible()
    assert world.other_student.user.full_name not in page.content()  # not the teacher's student
    assert serious_violations(page) == []
    screenshot(page, "teacher-dashboard")


def test_the_sign_in_page_passes_the_accessibility_check_and_says_why_it_refused(site, page):
    page.goto(site.url + "/")
    assert serious_violations(page) == []
    page.fill("#email", "nobody@example.com")
    page.fill("#password", "wrong")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")
    screenshot(page, "sign-in")


def test_a_teacher_never_sees_another_schools_dashboard(world, site, page):
    other_school = f.SchoolFactory()
    sign_in_by_keyboard(page, site, world.teacher.user.email)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")

    page.goto(f"{site.url}/app/teachers/{world.teacher.pk}/dashboard/?school={other_school.pk}")

    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert serious_violations(page) == []
    screenshot(page, "not-found")


def test_the_dashboard_changes_by_itself_when_a_session_is_completed_elsewhere(world, site, page):
    session = f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=3))
    token, _ = token_create(user=world.teacher.user)
    sign_in_by_keyboard(page, site, world.teacher.user.email)
    to_complete = page.locator("#to-complete .count")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    before = int(to_complete.inner_text())
    assert before >= 1

    complete_over_http(site, token, session.pk, world.student.pk)  # another device, say

    expect(to_complete).to_have_text(str(before - 1), timeout=LIVE_WITHIN_MS)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload


def tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until ``selector`` has the focus, as a keyboard user moves through the page."""
    for _ in range(limit):
        if page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never took the focus")


def test_a_teacher_completes_a_session_by_keyboard_and_the_admins_open_page_follows(world, site, page, browser):
    session = f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=3))
    admin_context = browser.new_context()
    admin = admin_context.new_page()
    sign_in_by_keyboard(admin, site, world.admin.email)
    admin.goto(f"{site.url}/app/teachers/{world.teacher.pk}/dashboard/?school={world.school.pk}")
    expect(admin.locator("#live")).to_have_attribute("data-state", "live")
    admin_count = admin.locator("#to-complete .count")
    before = int(admin_count.inner_text())

    sign_in_by_keyboard(page, site, world.teacher.user.email)
    tab_to(page, f'a[href="/app/sessions/{session.pk}/complete/"]')
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text(session.subject.name)
    tab_to(page, f'input[name="attendance-{world.student.pk}"][value="present"]')
    page.keyboard.press("Space")
    tab_to(page, "#actual_duration_minutes")
    page.keyboard.press("Control+A")
    page.keyboard.type("55")
    tab_to(page, "#note_text")
    page.keyboard.type("Worked through fractions.")
    tab_to(page, 'button[value="complete"]')
    assert serious_violations(page) == []
    screenshot(page, "complete-session")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/dashboard/"))
    expect(admin_count).to_have_text(str(before - 1), timeout=LIVE_WITHIN_MS)
    session.refresh_from_db()
    assert (session.status, session.actual_duration_minutes) == ("completed", 55)
    admin_context.close()


def test_a_live_refresh_keeps_the_keyboards_place_on_a_link(world, site, page):
    """A keyboard user has tabbed to a session's "complete" link (it has no id) when an event refreshes the
    page's content: the focus stays on that link, and Enter opens it."""
    mine, elsewhere = (
        f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=hours))
        for hours in (4, 3)
    )
    token, _ = token_create(user=world.teacher.user)
    page.add_init_script(
        "window.refreshes = 0;"
        "document.addEventListener('chalkboard:refreshed', function () { window.refreshes += 1; });"
    )
    sign_in_by_keyboard(page, site, world.teacher.user.email)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.wait_for_function("() => window.refreshes >= 1")  # the refresh on connecting is in
    link = f'a[href="/app/sessions/{mine.pk}/complete/"]'
    tab_to(page, link)
    to_complete = page.locator("#to-complete .count")
    before = int(to_complete.inner_text())

    complete_over_http(site, token, elsewhere.pk, world.student.pk)

    expect(to_complete).to_have_text(str(before - 1), timeout=LIVE_WITHIN_MS)
    page.wait_for_function("() => window.refreshes >= 2")
    assert page.evaluate("(selector) => document.activeElement.matches(selector)", link)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/app/sessions/{mine.pk}/complete/$"))


def test_a_dropped_connection_resumes_from_the_last_event_and_receives_what_it_missed(world, site, page):
    from chalkboard.completion import services as completion
    from chalkboard.completion.services import AttendanceMark
    from chalkboard.schools.access import Viewer

    first, second = (
        f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=hours))
        for hours in (4, 3)
    )
    token, _ = token_create(user=world.teacher.user)
    sockets: list[str] = []
    heard: list[dict[str, Any]] = []

    def follow(socket: Any) -> None:
        sockets.append(socket.url)
        socket.on("framereceived", lambda frame: heard.append(json.loads(frame)) if isinstance(frame, str) else None)

    page.on("websocket", follow)
    sign_in_by_keyboard(page, site, world.teacher.user.email)
    live = page.locator("#live")
    expect(live).to_have_attribute("data-state", "live")
    to_complete = page.locator("#to-complete .count")
    before = int(to_complete.inner_text())
    complete_over_http(site, token, first.pk, world.student.pk)  # heard live: the page knows the last id
    expect(to_complete).to_have_text(str(before - 1), timeout=LIVE_WITHIN_MS)

    page.server_stopped_on_purpose = True  # its reconnection attempts are refused meanwhile, as they should be
    site.stop()  # the server goes away: the socket drops
    expect(live).to_have_attribute("data-state", "offline")
    completion.session_complete(  # meanwhile, the other session is completed (another device, another server)
        viewer=Viewer.for_user(world.teacher.user),
        session_id=second.pk,
        attendance=[AttendanceMark(student_id=world.student.pk, status="present")],
        actual_duration_minutes=40,
    )
    site.start()  # back on the same address: the page reconnects from its last id

    expect(live).to_have_attribute("data-state", "live", timeout=20_000)
    page.wait_for_timeout(0)  # let the frames already received be reported
    deadline = timezone.now() + timedelta(milliseconds=CAUGHT_UP_WITHIN_MS)
    while timezone.now() < deadline and not any(
        message.get("type") == "session.completed" and message["data"]["session"]["id"] == second.pk
        for message in heard
    ):
        page.wait_for_timeout(100)
    assert "?since=" not in sockets[0]
    assert "?since=" in sockets[-1]
    completed = [message["data"]["session"]["id"] for message in heard if message.get("type") == "session.completed"]
    assert completed == [first.pk, second.pk]  # each once, in order: the missed one arrived on the resumed socket
