"""A guardian in a real browser: signing in by keyboard, landing on their child's progress, reading the notes
shared with the family (never the staff's), and the page's accessibility at desktop and phone width."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories as f
from tests.browser.conftest import PHONE, screenshot, serious_violations
from tests.browser.test_teacher_day import sign_in_by_keyboard
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
