"""The progress page in a real browser: a guardian signs in by keyboard, lands on their child's progress and
reads the notes shared with the family (never the staff's), accessibly at desktop and phone width; a teacher's
page changes by itself when an assessment is recorded elsewhere."""

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
from tests.browser.conftest import PHONE, screenshot, serious_violations
from tests.browser.test_teacher_day import LIVE_WITHIN_MS, sign_in_by_keyboard
from tests.progress.conftest import record

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.wall_clock]


def test_a_guardian_lands_on_their_childs_progress_and_reads_only_the_shared_notes(world, site, page):
    subject = world.session.subject
    skill = f.SkillFactory(subject=subject, name="Fractions")
    now = timezone.now()
    for days_ago, score in ((20, "5"), (12, "7"), (3, "9")):
        record(
            world.teacher.user,
            student=world.student,
            subject=subject,
            skill_id=skill.pk,
            score=score,
            assessed_at=now - timedelta(days=days_ago),
        )

    sign_in_by_keyboard(page, site, world.guardian.email)

    expect(page).to_have_url(re.compile(rf"/app/students/{world.student.pk}/progress/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(world.student.user.full_name)
    expect(page.get_by_role("heading", level=2, name=subject.name, exact=True)).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(rf"^{re.escape(subject.name)}: 3 assessments"))).to_be_visible()
    expect(page.get_by_role("rowheader", name="Fractions", exact=True)).to_be_visible()
    expect(page.get_by_text("shared note")).to_be_visible()
    content = page.content()
    assert "staff note" not in content
    assert "admin note" not in content
    assert page.locator("#live").count() == 0  # the socket refuses guardians: the page does not try
    assert page.locator("body[data-live]").count() == 0
    assert serious_violations(page) == []
    page.set_viewport_size(PHONE)
    assert serious_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing runs off the side
    screenshot(page, "student-progress")


def record_over_http(site: Any, token: str, student_id: int, subject_id: int) -> None:
    body = {"student_id": student_id, "subject_id": subject_id, "kind": "quiz", "score": "7", "max_score": "8"}
    request = urllib.request.Request(  # noqa: S310 - the test's own server, over http
        f"{site.url}/api/assessments/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 201


def test_a_teachers_progress_page_shows_an_assessment_recorded_elsewhere_without_a_reload(world, site, page):
    token, _ = token_create(user=world.teacher.user)
    sign_in_by_keyboard(page, site, world.teacher.user.email)
    expect(page).to_have_url(re.compile(r"/dashboard/"))
    page.goto(f"{site.url}/app/students/{world.student.pk}/progress/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.get_by_text("No assessments yet.")).to_be_visible()

    record_over_http(site, token, world.student.pk, world.session.subject_id)  # from another device, say

    expect(page.get_by_text("7.00 / 8.00 (87.50%)")).to_be_visible(timeout=LIVE_WITHIN_MS)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
