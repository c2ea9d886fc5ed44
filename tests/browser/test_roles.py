"""Each role in a real browser lands where it works and sees only what the contract lets it see: a student
their own progress (the shared note, never the staff's), an owner their school's overview (never another
school's people), and an admin's open earnings page follows a completion made elsewhere without a reload."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chalkboard.accounts.services import token_create
from chalkboard.schools.models import Role
from tests import factories as f
from tests.browser.conftest import screenshot, serious_violations
from tests.browser.test_teacher_day import LIVE_WITHIN_MS, complete_over_http, sign_in_by_keyboard

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.wall_clock]


def test_a_student_lands_on_their_own_progress_and_reads_only_the_shared_note(world, site, page):
    sign_in_by_keyboard(page, site, world.student.user.email)

    expect(page).to_have_url(re.compile(rf"/app/students/{world.student.pk}/progress/$"))
    expect(page.get_by_text("shared note")).to_be_visible()
    content = page.content()
    assert "staff note" not in content
    assert "admin note" not in content
    assert world.other_student.user.full_name not in content
    assert serious_violations(page) == []


def test_an_owner_lands_on_their_schools_overview_and_never_sees_another_schools_people(world, other_world, site, page):
    sign_in_by_keyboard(page, site, world.owner.email)

    expect(page).to_have_url(re.compile(rf"/app/schools/{world.school.pk}/$"))
    expect(page.get_by_role("link", name=re.compile(re.escape(world.teacher.user.full_name))).first).to_be_visible()
    assert other_world.teacher.user.full_name not in page.content()
    page.goto(f"{site.url}/app/schools/{other_world.school.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert other_world.teacher.user.full_name not in page.content()


def test_an_admins_open_earnings_page_follows_a_completion_made_elsewhere(world, site, page):
    session = f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=3))
    token, _ = token_create(user=world.teacher.user)
    sign_in_by_keyboard(page, site, world.admin.email)
    page.goto(f"{site.url}/app/teachers/{world.teacher.pk}/earnings/?school={world.school.pk}")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    pending = page.locator("#approvals .count")
    before = int(pending.inner_text())

    complete_over_http(site, token, session.pk, world.student.pk)

    expect(pending).to_have_text(str(before + 1), timeout=LIVE_WITHIN_MS)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
    screenshot(page, "teacher-earnings-live")


def test_a_teacher_records_an_assessment_from_the_students_page(world, site, page):
    subject = world.session.subject
    sign_in_by_keyboard(page, site, world.teacher.user.email)
    page.goto(f"{site.url}/app/students/{world.student.pk}/progress/")
    page.get_by_role("link", name="Record an assessment").click()
    page.select_option("#subject_id", str(subject.pk))
    page.fill("#score", "7")
    page.fill("#max_score", "10")
    assert serious_violations(page) == []
    screenshot(page, "record-assessment")

    page.get_by_role("button", name="Record the assessment").click()

    expect(page).to_have_url(re.compile(rf"/app/students/{world.student.pk}/progress/$"))
    expect(page.get_by_role("heading", level=2, name=subject.name, exact=True)).to_be_visible()


def test_someone_with_no_record_in_any_school_lands_on_their_schools(world, site, page):
    user = f.member(school=world.school, role=Role.STUDENT)  # a role, and no student record behind it

    sign_in_by_keyboard(page, site, user.email)

    expect(page.get_by_role("heading", level=1)).to_have_text("Your schools")
    expect(page.get_by_text(world.school.name)).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "schools")
