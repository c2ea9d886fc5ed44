"""Completing a session from its page: the form, its errors next to their fields, the levels of notes a
person may write, no-show and cancel, and a form sent twice completing once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chalkboard.earnings.models import EarningEntry
from chalkboard.scheduling.models import Session, SessionNote, SessionStatus
from tests import factories as f
from tests.web.test_pages import csrf_token, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(world) -> Session:
    return f.session_for(world.teacher, world.student, starts_at=timezone.now() - timedelta(hours=2))


def url(session: Session) -> str:
    return f"/app/sessions/{session.pk}/complete/"


def complete(client: Client, session: Session, student, **fields):
    body = {"action": "complete", f"attendance-{student.pk}": "present", "actual_duration_minutes": "50", **fields}
    return client.post(url(session), body)


def test_the_form_asks_for_each_students_attendance_and_offers_the_teachers_note_levels(world, started):
    page = signed_in(world.teacher.user).get(url(started))

    body = page.content.decode()
    assert page.status_code == 200
    assert f"<legend>{world.student.user.full_name}</legend>" in body
    assert body.count(f'name="attendance-{world.student.pk}"') == 4
    assert 'value="shared"' in body
    assert 'value="staff"' in body
    assert 'value="admin"' not in body
    assert 'value="admin"' in signed_in(world.admin).get(url(started)).content.decode()


def test_completing_through_the_form_records_the_session_and_one_earning_and_a_second_send_changes_nothing(
    world, started
):
    client = signed_in(world.teacher.user)

    first = complete(client, started, world.student, note_text="Fractions, page 4.", note_visibility="shared")
    second = complete(client, started, world.student, actual_duration_minutes="90")

    dashboard = f"/app/teachers/{world.teacher.pk}/dashboard/?school={world.school.pk}"
    assert first["Location"] == dashboard
    assert second["Location"] == dashboard
    started.refresh_from_db()
    assert started.status == SessionStatus.COMPLETED
    assert started.actual_duration_minutes == 50
    assert EarningEntry.objects.filter(session=started).count() == 1
    assert list(SessionNote.objects.filter(session=started).values_list("visibility", "text")) == [
        ("shared", "Fractions, page 4.")
    ]


def test_missing_attendance_and_a_bad_duration_are_shown_next_to_their_fields(world, started):
    response = signed_in(world.teacher.user).post(url(started), {"action": "complete", "actual_duration_minutes": "0"})

    body = response.content.decode()
    assert response.status_code == 400
    assert f'id="attendance-{world.student.pk}-error">Choose how the student attended.' in body
    assert 'id="duration-error"' in body
    started.refresh_from_db()
    assert started.status == SessionStatus.SCHEDULED


def test_a_teacher_may_not_write_an_admin_note_from_the_form(world, started):
    response = complete(
        signed_in(world.teacher.user), started, world.student, note_text="Pay rise?", note_visibility="admin"
    )

    assert response.status_code == 400
    assert "You may not write notes at this level." in response.content.decode()
    started.refresh_from_db()
    assert started.status == SessionStatus.SCHEDULED
    assert not SessionNote.objects.filter(session=started).exists()


def test_a_note_too_long_or_of_no_level_is_refused_at_its_field(world, started):
    client = signed_in(world.teacher.user)

    too_long = complete(client, started, world.student, note_text="x" * 10_001, note_visibility="shared")
    no_level = complete(client, started, world.student, note_text="Fine.", note_visibility="everyone")

    assert too_long.status_code == 400
    assert 'id="note-error"' in too_long.content.decode()
    assert no_level.status_code == 400
    assert 'id="visibility-error"' in no_level.content.decode()
    started.refresh_from_db()
    assert started.status == SessionStatus.SCHEDULED


def test_a_no_show_and_a_cancellation_from_the_page(world, started):
    other = f.session_for(world.teacher, world.student, starts_at=timezone.now() + timedelta(days=1))
    client = signed_in(world.teacher.user)

    no_show = client.post(url(started), {"action": "no_show"})
    cancelled = client.post(url(other), {"action": "cancel", "reason": " Ill. "})

    assert no_show.status_code == 302
    assert cancelled.status_code == 302
    started.refresh_from_db()
    other.refresh_from_db()
    assert started.status == SessionStatus.NO_SHOW
    assert (other.status, other.cancellation_reason) == (SessionStatus.CANCELLED, "Ill.")


def test_a_session_that_has_not_started_cannot_be_completed_yet(world):
    later = f.session_for(world.teacher, world.student, starts_at=timezone.now() + timedelta(hours=3))

    response = complete(signed_in(world.teacher.user), later, world.student)

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    later.refresh_from_db()
    assert later.status == SessionStatus.SCHEDULED


def test_an_unknown_action_is_refused_and_changes_nothing(world, started):
    response = signed_in(world.teacher.user).post(url(started), {"action": "approve"})

    assert response.status_code == 400
    assert "Choose to complete the session" in response.content.decode()
    started.refresh_from_db()
    assert started.status == SessionStatus.SCHEDULED


def test_another_teacher_neither_sees_nor_completes_the_session(world, started):
    client = signed_in(world.other_teacher.user)

    page = client.get(url(started))
    sent = complete(client, started, world.student)

    assert page.status_code in {403, 404}
    assert sent.status_code == page.status_code
    started.refresh_from_db()
    assert started.status == SessionStatus.SCHEDULED


def test_a_completed_sessions_page_says_there_is_nothing_left_to_record(world, started):
    client = signed_in(world.teacher.user)
    complete(client, started, world.student)

    page = client.get(url(started))

    assert page.status_code == 200
    assert "nothing left to record" in page.content.decode()


def test_the_completion_form_needs_this_sites_csrf_token(world, started):
    client = Client(enforce_csrf_checks=True)
    client.post(
        "/", {"email": world.teacher.user.email, "password": f.PASSWORD, "csrfmiddlewaretoken": csrf_token(client)}
    )

    forged = complete(client, started, world.student)

    assert forged.status_code == 403
    started.refresh_from_db()
    assert started.status == SessionStatus.SCHEDULED


def test_the_dashboard_links_each_session_to_complete_to_its_form(world, started):
    page = signed_in(world.teacher.user).get(f"/app/teachers/{world.teacher.pk}/dashboard/?school={world.school.pk}")

    assert f'href="{url(started)}"' in page.content.decode()


def test_an_error_the_form_has_no_field_for_is_still_shown_and_completes_nothing(world, started):
    from chalkboard.web.session_pages import _field_errors

    assert _field_errors({"attendance": ["This list may not be empty."]}, []) == {
        "form": ["The session could not be completed as sent."]
    }
