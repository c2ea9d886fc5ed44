"""The pages over HTTP: signing in and out (session, CSRF, the API's limits), where each role lands, the
teacher dashboard page on the API's own dashboard, and the pages' headers and error pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django.utils.http import urlencode

from chalkboard.schools.models import Role
from chalkboard.web.pages import PAGE_CSP, SIGN_IN_FAILED
from tests import factories as f
from tests.conftest import client_for
from tests.security.test_limits import NOW, rates

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def signed_in(user) -> Client:
    client = Client()
    assert client.post("/", {"email": user.email, "password": f.PASSWORD}).status_code == 302
    return client


def csrf_token(client: Client, path: str = "/") -> str:
    match = TOKEN.search(client.get(path).content.decode())
    assert match is not None
    return match.group(1)


def dashboard_url(teacher, school) -> str:
    return f"/app/teachers/{teacher.pk}/dashboard/?school={school.pk}"


# --- Signing in and out. --------------------------------------------------------------------------------


def test_the_sign_in_page_has_labelled_fields_a_csrf_token_and_the_pages_policy():
    response = Client().get("/")

    body = response.content.decode()
    assert response.status_code == 200
    assert '<label for="email">' in body
    assert '<label for="password">' in body
    assert TOKEN.search(body)
    assert response["Content-Security-Policy"] == PAGE_CSP
    assert response["Cache-Control"] == "no-store"
    assert "<script>" not in body
    assert "style=" not in body


def test_a_teacher_signs_in_and_lands_on_their_dashboard_in_their_first_school(world):
    client = Client()

    response = client.post("/", {"email": world.teacher.user.email.upper(), "password": f.PASSWORD}, follow=True)

    assert response.redirect_chain == [("/app/", 302), (dashboard_url(world.teacher, world.school), 302)]
    assert response.status_code == 200
    assert world.teacher.user.full_name in response.content.decode()
    assert client.session["_auth_user_id"] == str(world.teacher.user.pk)


def test_a_wrong_password_is_refused_with_the_same_answer_as_an_unknown_email(world):
    wrong = Client().post("/", {"email": world.teacher.user.email, "password": "not it"})
    unknown = Client().post("/", {"email": "nobody@example.com", "password": "not it"})
    malformed = Client().post("/", {"email": "not an email", "password": ""})

    for response in (wrong, unknown, malformed):
        assert response.status_code == 400
        assert SIGN_IN_FAILED in response.content.decode()
        assert "_auth_user_id" not in response.wsgi_request.session


@time_machine.travel(NOW, tick=False)
def test_signing_in_counts_against_the_same_lock_out_as_the_api(world):
    email = world.teacher.user.email
    with rates(login_account_address="3/min", login_account="100/min"):
        pages = [Client().post("/", {"email": email, "password": "guess"}).status_code for _ in range(2)]
        api = client_for(None).post("/api/auth/token/", {"email": email, "password": "guess"}, format="json")
        refused = Client().post("/", {"email": email, "password": f.PASSWORD})

    assert pages == [400, 400]
    assert api.status_code == 400
    assert refused.status_code == 429
    assert "Too many attempts" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session


@time_machine.travel(NOW, tick=False)
def test_signing_in_counts_against_the_addresss_limit_too(world):
    with rates(login_address="2/min"):
        answers = [Client().post("/", {"email": "x@example.com", "password": "guess"}).status_code for _ in range(3)]

    assert answers == [400, 400, 429]


def test_the_sign_in_form_is_refused_without_this_sites_csrf_token(world):
    client = Client(enforce_csrf_checks=True)

    forged = client.post("/", {"email": world.teacher.user.email, "password": f.PASSWORD})
    genuine = client.post(
        "/", {"email": world.teacher.user.email, "password": f.PASSWORD, "csrfmiddlewaretoken": csrf_token(client)}
    )

    assert forged.status_code == 403
    assert "not sent from a page of this site" in forged.content.decode()
    assert genuine.status_code == 302


def test_signing_out_needs_a_post_with_the_csrf_token_and_ends_the_session(world):
    client = Client(enforce_csrf_checks=True)
    client.post("/", {"email": world.guardian.email, "password": f.PASSWORD, "csrfmiddlewaretoken": csrf_token(client)})
    own_page = f"/app/students/{world.student.pk}/progress/"
    token = csrf_token(client, own_page)

    assert client.get("/sign-out/").status_code == 405
    assert client.post("/sign-out/").status_code == 403  # no token: still signed in
    assert client.get(own_page).status_code == 200
    assert client.post("/sign-out/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get(own_page).status_code == 302


def test_after_signing_in_a_person_returns_to_the_page_they_asked_for_on_this_site_only(world):
    url = dashboard_url(world.teacher, world.school)
    first = Client().get(url)
    back = Client().post("/", {"email": world.admin.email, "password": f.PASSWORD, "next": url})
    away = Client().post("/", {"email": world.admin.email, "password": f.PASSWORD, "next": "https://evil.example/"})

    assert first.status_code == 302
    assert first["Location"] == "/?" + urlencode({"next": url})
    assert back["Location"] == url
    assert away["Location"] == "/app/"


def test_a_signed_in_person_opening_the_sign_in_page_goes_on(world):
    assert signed_in(world.admin).get("/")["Location"] == "/app/"


def test_the_sign_in_page_sets_a_session_cookie_only_once_signed_in(world):
    client = Client()
    client.get("/")
    assert "sessionid" not in client.cookies

    client.post("/", {"email": world.admin.email, "password": f.PASSWORD})
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


# --- Where each role lands. -------------------------------------------------------------------------------


def test_a_student_without_a_record_there_lands_on_their_schools_with_their_roles(world):
    user = f.member(school=world.school, role=Role.STUDENT)
    f.member(school=world.school, role=Role.GUARDIAN, user=user)

    body = signed_in(user).get("/app/").content.decode()

    assert world.school.name in body
    assert "Student, Guardian" in body


def test_a_person_without_a_school_is_told_how_to_join():
    response = signed_in(f.UserFactory()).get("/app/")

    assert "An invitation from a school brings you in" in response.content.decode()


# --- The teacher dashboard page. ---------------------------------------------------------------------------


def test_the_dashboard_page_shows_the_api_dashboards_figures(world):
    f.session_for(world.teacher, world.student, starts_at=timezone.now())
    api = client_for(world.teacher.user).get(f"/api/teachers/{world.teacher.pk}/dashboard/?school={world.school.pk}")
    api_page = api.json()

    response = signed_in(world.teacher.user).get(dashboard_url(world.teacher, world.school))

    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == PAGE_CSP
    assert api_page["school"]["name"] in body
    assert api_page["students"]["results"]
    for student in api_page["students"]["results"]:
        assert student["name"] in body
    for figure in ("this_month", "last_month", "pending", "approved", "paid", "held"):
        assert f"<dd>{api_page['earnings'][figure]}</dd>" in body


def test_a_student_who_needs_attention_is_marked_with_why(world):
    lapsed = f.student_in(world.school)
    f.session_for(world.teacher, lapsed, starts_at=timezone.now() - timedelta(days=3))  # and nothing booked since

    page = signed_in(world.teacher.user).get(dashboard_url(world.teacher, world.school)).content.decode()

    students = page[page.index('aria-labelledby="students"') :]
    row = students[students.index(lapsed.user.full_name) :].split("</tr>")[0]
    assert "Needs attention:</strong> no session booked" in row


def test_a_teacher_sees_neither_another_teachers_dashboard_nor_another_schools(world):
    other_school = f.SchoolFactory()
    client = signed_in(world.teacher.user)

    colleague = client.get(dashboard_url(world.other_teacher, world.school))
    elsewhere = client.get(f"/app/teachers/{world.teacher.pk}/dashboard/?school={other_school.pk}")
    garbage = client.get(f"/app/teachers/{world.teacher.pk}/dashboard/?school=abc")
    too_large = client.get(f"/app/teachers/{world.teacher.pk}/dashboard/?school={2**63}")

    for response in (colleague, elsewhere, garbage, too_large):
        assert response.status_code == 404
        assert "There is nothing here that you can see" in response.content.decode()
        assert world.other_teacher.user.full_name not in response.content.decode()


def test_staff_open_any_teachers_dashboard_of_their_school(world):
    response = signed_in(world.admin).get(dashboard_url(world.other_teacher, world.school))

    assert response.status_code == 200
    assert world.other_teacher.user.full_name in response.content.decode()


def test_a_teacher_in_two_schools_can_switch_between_them(world):
    second = f.SchoolFactory(name="Second School")
    f.member(school=second, role=Role.TEACHER, user=world.teacher.user)

    page = signed_in(world.teacher.user).get(dashboard_url(world.teacher, world.school)).content.decode()
    there = signed_in(world.teacher.user).get(dashboard_url(world.teacher, second))

    assert '<select id="school" name="school">' in page
    assert f'<option value="{second.pk}">Second School</option>' in page
    assert there.status_code == 200
    assert "Second School" in there.content.decode()


def test_an_anonymous_visitor_is_sent_to_sign_in(world):
    response = Client().get(dashboard_url(world.teacher, world.school))

    assert response.status_code == 302
    assert response["Location"].startswith("/?next=%2Fapp%2Fteachers%2F")


# --- Errors. -------------------------------------------------------------------------------------------------


def test_an_unknown_page_is_the_error_page_and_an_unknown_api_path_stays_json():
    page = Client().get("/no/such/page/")
    api = Client().get("/api/no/such/thing/")

    assert page.status_code == 404
    assert "Not found" in page.content.decode()
    assert page["Content-Security-Policy"] == PAGE_CSP
    assert api.status_code == 404
    assert api.json()["code"] == "not_found"


def test_the_api_never_reads_the_session(world):
    client = signed_in(world.admin)

    assert client.get("/api/me/").status_code == 401


def test_a_page_that_refuses_an_action_answers_403_and_a_hidden_thing_404():
    from django.test import RequestFactory

    from chalkboard.common.errors import Forbidden, NotFound
    from chalkboard.web.pages import permission_denied
    from chalkboard.web.pages import signed_in as signed_in_page

    request = RequestFactory().get("/app/")
    request.user = f.UserFactory()

    def refusing(request):
        raise Forbidden()

    def hiding(request):
        raise NotFound()

    assert signed_in_page(refusing)(request).status_code == 403
    assert signed_in_page(hiding)(request).status_code == 404
    assert "Not allowed" in permission_denied(request).content.decode()
    api_request = RequestFactory().get("/api/schools/")
    assert permission_denied(api_request).status_code == 403
    assert b'"code": "forbidden"' in permission_denied(api_request).content.replace(b'":"', b'": "')


def test_a_teacher_without_a_school_named_gets_their_first(world):
    response = signed_in(world.teacher.user).get(f"/app/teachers/{world.teacher.pk}/dashboard/")

    assert response.status_code == 200
    assert world.school.name in response.content.decode()


def test_every_reason_for_attention_is_told():
    from chalkboard.web.pages import _attention_reasons

    lapsed = {"missed_last_session": True, "trend": "down", "next_session_at": None}
    fine = {"missed_last_session": False, "trend": "up", "next_session_at": "2026-12-01T10:00:00Z"}

    assert _attention_reasons(lapsed) == ["missed the last session", "progress is going down", "no session booked"]
    assert _attention_reasons(fine) == []


def test_the_earnings_chart_scales_to_the_larger_month_and_survives_two_zeros():
    from chalkboard.web.pages import _earnings_chart

    bars = _earnings_chart({"last_month": "200.00", "this_month": "50.00"})
    empty = _earnings_chart({"last_month": "0.00", "this_month": "0.00"})

    assert [(bar["label"], bar["share"]) for bar in bars] == [("Last month", 1.0), ("This month", 0.25)]
    assert [bar["share"] for bar in empty] == [0.0, 0.0]


def test_times_are_shown_in_the_schools_zone():
    from chalkboard.web.templatetags.chalkboard_web import local_clock, local_time, percent_width

    assert local_time("2026-07-01T09:30:00Z", "Europe/Lisbon") == "Wed 1 Jul, 10:30"
    assert local_time(None, "Europe/Lisbon") == ""
    assert local_clock("2026-12-01T09:30:00Z", "America/Chicago") == "03:30"
    assert percent_width(0.25) == "25.00%"
    assert percent_width(0.0) == "0.50%"


def test_a_session_past_its_age_signs_the_person_out(world, clock):
    from django.conf import settings

    client = signed_in(world.admin)
    overview = f"/app/schools/{world.school.pk}/"
    assert client.get(overview).status_code == 200

    clock.shift(timedelta(seconds=settings.SESSION_COOKIE_AGE + 60))
    cache.clear()  # as the cache's own expiry does by then (a real Redis counts its TTLs on the real clock)

    expired = client.get(overview)
    assert expired.status_code == 302
    assert expired["Location"].startswith("/?next=")
