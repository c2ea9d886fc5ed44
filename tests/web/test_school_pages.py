"""The school overview over HTTP: what waits for a school's owners and admins, only for them, and where they
land after signing in."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chalkboard.earnings.models import EarningEntry
from chalkboard.schools.models import Role
from chalkboard.web.school_pages import OLDEST_SHOWN
from tests import factories as f
from tests.web.test_pages import dashboard_url, signed_in

pytestmark = pytest.mark.django_db


def overview_url(school) -> str:
    return f"/app/schools/{school.pk}/"


def earning(world, teacher, *, amount: str, status: str = "pending") -> EarningEntry:
    return EarningEntry.objects.create(
        school=world.school,
        teacher=teacher,
        amount=Decimal(amount),
        currency=world.school.currency,
        minutes=60,
        hourly_rate=Decimal("30.00"),
        earned_at=timezone.now() - timedelta(days=2),
        status=status,
        hold_reason="Claimed late." if status == "held" else "",
    )


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_staff_see_their_teachers_what_waits_to_be_completed_and_to_be_approved(world, other_world, role):
    started = [
        f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=hours))
        for hours in range(1, OLDEST_SHOWN + 3)
    ]
    f.session_for(other_world.teacher, other_world.student, starts_at=timezone.now() - timedelta(hours=2))
    earning(world, world.teacher, amount="20.00")
    earning(world, world.teacher, amount="5.50")
    earning(world, world.other_teacher, amount="10.00", status="held")
    earning(world, world.teacher, amount="99.00", status="approved")
    EarningEntry.objects.create(
        school=other_world.school,
        teacher=other_world.teacher,
        amount=Decimal("1000.00"),
        currency="JPY",
        minutes=60,
        hourly_rate=Decimal("30.00"),
        earned_at=timezone.now(),
    )

    response = signed_in(world.user(role)).get(overview_url(world.school))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-live="/ws/dashboard/"' in body
    assert "style=" not in body
    for teacher in (world.teacher, world.other_teacher):
        assert teacher.user.full_name in body
        assert f'href="{dashboard_url(teacher, world.school)}"' in body
        assert f'href="/app/teachers/{teacher.pk}/earnings/?school={world.school.pk}"' in body
    assert other_world.teacher.user.full_name not in body
    assert f'<h2 id="to-complete">Sessions to complete <span class="count">{len(started)}</span></h2>' in body
    assert f"The oldest {OLDEST_SHOWN} of {len(started)}." in body
    assert "<dd>2 · 25.50 EUR</dd>" in body
    assert "<dd>1 · 10.00 EUR</dd>" in body
    assert f'href="/app/teachers/{world.teacher.pk}/earnings/?school={world.school.pk}#approvals"' in body
    assert "1000.00" not in body


def test_a_quiet_school_says_so(world):
    body = signed_in(world.owner).get(overview_url(world.school)).content.decode()

    assert "Nothing waits for approval." in body
    assert "Nothing waits to be completed." in body


def test_a_school_without_teachers_says_how_one_comes(db):
    school = f.SchoolFactory()
    owner = f.member(school=school, role=Role.OWNER)

    assert "No teachers yet." in signed_in(owner).get(overview_url(school)).content.decode()


@pytest.mark.parametrize("role", ["teacher", "student", "guardian"])
def test_members_who_do_not_run_the_school_get_404(world, role):
    response = signed_in(world.user(role)).get(overview_url(world.school))

    assert response.status_code == 404
    assert "There is nothing here that you can see" in response.content.decode()


def test_another_schools_owner_and_unknown_schools_get_404(world, other_world):
    client = signed_in(other_world.owner)

    assert client.get(overview_url(world.school)).status_code == 404
    assert client.get("/app/schools/987654/").status_code == 404


def test_an_anonymous_visitor_is_sent_to_sign_in(world):
    assert Client().get(overview_url(world.school))["Location"].startswith("/?next=")


def test_the_overview_costs_the_same_queries_however_many_teachers_and_sessions(world):
    f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=1))
    earning(world, world.teacher, amount="1.00")
    client = signed_in(world.owner)
    client.get(overview_url(world.school))  # sessions and roles are cached from here on

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(overview_url(world.school)).status_code == 200
        return len(captured)

    few = queries()
    for _ in range(3):
        teacher = f.teacher_in(world.school)
        student = f.student_in(world.school)
        f.session_for(teacher, student, starts_at=timezone.now() - timedelta(hours=1))
        earning(world, teacher, amount="1.00")

    assert queries() == few


# --- Where staff land. ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_an_owner_or_admin_who_does_not_teach_lands_on_the_overview(world, role):
    response = signed_in(world.user(role)).get("/app/", follow=True)

    assert response.redirect_chain == [(overview_url(world.school), 302)]
    assert "School overview" in response.content.decode()


def test_an_owner_who_teaches_lands_on_their_dashboard_with_a_link_to_the_overview(world):
    f.teacher_in(world.school, user=world.owner)

    response = signed_in(world.owner).get("/app/", follow=True)

    assert response.redirect_chain[-1][0].startswith(f"/app/teachers/{world.owner.pk}/dashboard/")
    assert f'href="{overview_url(world.school)}"' in response.content.decode()
