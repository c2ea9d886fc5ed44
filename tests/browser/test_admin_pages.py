"""An admin's pages in a real browser: landing on the school overview, approving a teacher's pending pay from
their earnings page, both pages' accessibility, and no console errors."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chalkboard.earnings.models import EarningEntry
from tests import factories as f
from tests.browser.conftest import screenshot, serious_violations

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.wall_clock]


def test_an_admin_approves_pending_pay_from_the_school_overview(world, site, page):
    f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=3))
    pending = EarningEntry.objects.create(
        school=world.school,
        teacher=world.teacher,
        amount=Decimal("45.00"),
        currency=world.school.currency,
        minutes=90,
        hourly_rate=Decimal("30.00"),
        earned_at=timezone.now() - timedelta(days=1),
        description="Session: Mathematics",
    )

    # Counts the live refreshes of the page's content, to act only once the first one (on connecting) is in.
    page.add_init_script(
        "window.refreshes = 0;"
        "document.addEventListener('chalkboard:refreshed', function () { window.refreshes += 1; });"
    )
    page.goto(site.url + "/")
    page.fill("#email", world.admin.email)
    page.fill("#password", f.PASSWORD)
    page.click("button[type=submit]")

    expect(page).to_have_url(re.compile(rf"/app/schools/{world.school.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(world.school.name)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("#to-complete .count")).to_have_text("1")
    assert serious_violations(page) == []
    screenshot(page, "school-overview")

    page.get_by_role("link", name=f"Approve {world.teacher.user.full_name}'s earnings").click()

    expect(page).to_have_url(re.compile(rf"/app/teachers/{world.teacher.pk}/earnings/\?school={world.school.pk}"))
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.wait_for_function("() => window.refreshes >= 1")
    page.check(f"#approve-entry-{pending.pk}")
    page.get_by_role("button", name="Approve the chosen entries").click()

    expect(page.locator("#notice")).to_have_text("Approved 1 entry: 45.00 EUR.")
    expect(page.locator(f"#payout-entry-{pending.pk}")).to_be_visible()  # now among the approved, to pay
    expect(page.locator(f"#approve-entry-{pending.pk}")).to_have_count(0)
    pending.refresh_from_db()
    assert (pending.status, pending.approved_by_id) == ("approved", world.admin.pk)
    assert serious_violations(page) == []
    screenshot(page, "teacher-earnings")
