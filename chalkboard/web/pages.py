"""Chalkboard in a browser: the pages each role works on, served by the same app, on the same services,
selectors, access rules and cache as the API.

A person signs in with email and password into Django's session (the same Argon2 hashes, address limit and
lock-outs as ``POST /api/auth/token/``); every form carries a CSRF token. Pages are rendered on the server;
one small script (``static/web/app.js``) keeps a page live from ``/ws/dashboard/``. Every answer carries a
strict Content-Security-Policy: scripts, styles and images from this origin only, nothing inline.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

import orjson
from django import forms
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chalkboard.accounts.lockout import login_address_take, login_attempt_succeeded, login_attempt_take
from chalkboard.accounts.services import user_authenticate
from chalkboard.common import errors
from chalkboard.common.api import MAX_ID
from chalkboard.common.errors import DomainError, NotFound, ValidationFailed
from chalkboard.common.throttling import client_address
from chalkboard.dashboard.selectors import dashboard_page
from chalkboard.people.models import Student
from chalkboard.people.selectors import student_list
from chalkboard.schools.access import STAFF, Viewer, viewer_of
from chalkboard.schools.models import Role
from chalkboard.schools.selectors import school_list

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SIGN_IN_FAILED = "That email and password do not match an account."
SIGN_IN_LIMITED = "Too many attempts. Try again in {seconds} seconds."
ROLE_NAMES = {
    Role.OWNER: "Owner",
    Role.ADMIN: "Admin",
    Role.TEACHER: "Teacher",
    Role.STUDENT: "Student",
    Role.GUARDIAN: "Guardian",
}

Page = Callable[..., HttpResponseBase]


def page(request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    """A page: rendered, never cached by anyone (it carries personal data), with the pages' CSP."""
    response = render(request, template, context, status=status)
    response["Content-Security-Policy"] = PAGE_CSP
    response["Cache-Control"] = "no-store"
    # The API answers "no-referrer"; a page's own forms must name their origin (a browser sends "Origin:
    # null" under "no-referrer", which CSRF protection refuses), and no other site learns the page's URL.
    response["Referrer-Policy"] = "same-origin"
    return response


def error_page(request: HttpRequest, status: int) -> HttpResponse:
    """403 and 404 as people read them: the same answer whether a thing is hidden or missing."""
    return page(request, "web/error.html", {"status": status}, status=status)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without this site's CSRF token (from another site, or a page kept open past signing out)."""
    return page(request, "web/error.html", {"status": 403, "csrf": True}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponseBase:
    """Django's 404: the API's JSON shape under ``/api/``, the error page anywhere else."""
    if request.path.startswith("/api/"):
        return errors.not_found(request, exception)
    return error_page(request, 404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponseBase:
    if request.path.startswith("/api/"):
        return errors.permission_denied(request, exception)
    return error_page(request, 403)


def signed_in(view: Page) -> Page:
    """The page for a signed-in person; anyone else is sent to sign in, and back here afterwards. A domain
    error (``NotFound``, ``Forbidden``) becomes the error page with its status."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect(f"{reverse('web-sign-in')}?{urlencode({'next': request.get_full_path()})}")
        try:
            return view(request, *args, **kwargs)
        except DomainError as error:
            return error_page(request, 403 if error.status_code == 403 else 404)

    return wrapper


class SignInForm(forms.Form):
    email = forms.EmailField(max_length=254)
    password = forms.CharField(max_length=1024, strip=False)


def _next_page(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return reverse("web-home")


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponseBase:
    """``/``: sign in, then on to the page the person asked for or the one their role works on."""
    if request.method == "GET":
        if request.user.is_authenticated:
            return redirect(_next_page(request))
        return page(request, "web/sign_in.html", {"form": SignInForm(), "next": _next_page(request)})
    form = SignInForm(request.POST)
    error, status = _sign_in(request, form)
    if error is None:
        return redirect(_next_page(request))
    return page(request, "web/sign_in.html", {"form": form, "error": error, "next": _next_page(request)}, status=status)


def _sign_in(request: HttpRequest, form: SignInForm) -> tuple[str | None, int]:
    """Sign the person in, counted as the API counts logins; the error to show and its status otherwise."""
    address = client_address(request)
    refused = login_address_take(address=address)
    if refused is not None:
        return SIGN_IN_LIMITED.format(seconds=refused.reset), 429
    if not form.is_valid():
        return SIGN_IN_FAILED, 400
    email = form.cleaned_data["email"].strip().lower()
    attempt = login_attempt_take(email=email, address=address)
    if attempt.refused is not None:
        return SIGN_IN_LIMITED.format(seconds=attempt.refused.reset), 429
    try:
        user = user_authenticate(email=email, password=form.cleaned_data["password"])
    except ValidationFailed:
        return SIGN_IN_FAILED, 400
    login_attempt_succeeded(attempt)
    login(request, user)  # a new session key: nothing from before signing in carries over
    return None, 302


@require_POST
def sign_out(request: HttpRequest) -> HttpResponseBase:
    logout(request)
    return redirect("web-sign-in")


@require_GET
@signed_in
def home(request: HttpRequest) -> HttpResponseBase:
    """Where each role lands: a teacher on their dashboard; an owner or admin who does not teach on the overview
    of the first school they run; a student or guardian on progress (their own, or their first child's);
    anyone else on their schools."""
    viewer = viewer_of(request)
    teaching = viewer.schools_where(Role.TEACHER)
    if teaching:
        return redirect(f"{reverse('web-teacher-dashboard', args=[viewer.teacher_id])}?school={teaching[0]}")
    running = viewer.schools_where(*STAFF)
    if running:
        return redirect("web-school-overview", school_id=running[0])
    family = family_students(viewer=viewer)
    if family:
        return redirect("web-student-progress", student_id=family[0].pk)
    schools = [
        {"id": school.pk, "name": school.name, "roles": _role_names(viewer, school.pk)}
        for school in school_list(viewer=viewer)
    ]
    return page(request, "web/home.html", {"schools": schools, "viewer": viewer})


def family_students(*, viewer: Viewer) -> list[Student]:
    """The students whose progress the viewer follows as family: their own records (school by school), then
    their children's. Through the students selector, so only records the viewer may see."""
    students = student_list(viewer=viewer).filter(pk__in=viewer.own_and_ward_student_ids)
    return sorted(students, key=lambda student: (student.pk not in viewer.student_ids, student.school_id, student.pk))


def _role_names(viewer: Viewer, school_id: int) -> list[str]:
    return [ROLE_NAMES[Role(role)] for role in Role if role in viewer.roles_in(school_id)]


def school_asked(request: HttpRequest) -> int | None:
    value = request.GET.get("school", "")
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise NotFound()
    return int(value)


@require_GET
@signed_in
def teacher_dashboard(request: HttpRequest, teacher_id: int) -> HttpResponseBase:
    """The teacher's day: the API dashboard's own page (one build, one cache), rendered for people."""
    viewer = viewer_of(request)
    built = dashboard_page(viewer=viewer, teacher_id=teacher_id, school_id=school_asked(request))
    switch: tuple[tuple[int, str], ...] = ()
    if viewer.teacher_id == teacher_id and len(viewer.schools_where(Role.TEACHER)) > 1:
        names = dict(school_list(viewer=viewer).values_list("pk", "name"))
        switch = tuple((school_id, names.get(school_id, "")) for school_id in viewer.schools_where(Role.TEACHER))
    title, main, school_id = _dashboard_html(built.etag, built.gzipped, switch)
    nav_school = school_id if viewer.is_staff_of(school_id) else None
    return page(request, "web/teacher_dashboard.html", {"title": title, "main": main, "nav_school": nav_school})


@lru_cache(maxsize=512)
def _dashboard_html(etag: str, gzipped: bytes, switch: tuple[tuple[int, str], ...]) -> tuple[str, str, int]:
    """The dashboard's content as HTML, rendered once per version of the page (its ETag) in each process: it
    depends on nothing but the API's page (compressed, as it is cached) and the viewer's own schools, so a
    page read from the cache costs no template rendering."""
    dashboard = orjson.loads(gzip.decompress(gzipped))
    for student in dashboard["students"]["results"]:
        student["attention_reasons"] = _attention_reasons(student)
    context = {
        "dashboard": dashboard,
        "schools": [{"id": school_id, "name": name} for school_id, name in switch],
        "school_id": dashboard["school"]["id"],
        "earnings_chart": _earnings_chart(dashboard["earnings"]),
    }
    title = f"{dashboard['teacher']['name']} · {dashboard['school']['name']}"
    main = render_to_string("web/_teacher_dashboard_main.html", context)  # autoescaped: safe as it is
    return title, main, dashboard["school"]["id"]


def _attention_reasons(student: dict[str, Any]) -> list[str]:
    """Why the dashboard marks a student (``needs_attention``), in words."""
    reasons = []
    if student["missed_last_session"]:
        reasons.append("missed the last session")
    if student["trend"] == "down":
        reasons.append("progress is going down")
    if student["next_session_at"] is None:
        reasons.append("no session booked")
    return reasons


def _earnings_chart(earnings: dict[str, str]) -> list[dict[str, Any]]:
    """Bars for this month against last month, as shares of the larger (drawn by the template in SVG)."""
    values = [("Last month", earnings["last_month"]), ("This month", earnings["this_month"])]
    largest = max((float(amount) for _, amount in values), default=0.0) or 1.0
    return [{"label": label, "amount": amount, "share": round(float(amount) / largest, 4)} for label, amount in values]
