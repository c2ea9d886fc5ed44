"""A teacher's earnings as a page: the API's figures by day, week or month (``earnings_summary``, the selector
``GET /api/teachers/{id}/earnings/`` answers with), a chart and a table of them, the entries as the API's CSV;
and, for the school's owners and admins, the forms that approve, review and pay them through the earnings
services.

Who may open it is who may read the API's earnings (``earnings_scope_for``: the teacher, the school's staff;
404 for anyone else). Who may send its forms is who may manage the school's earnings
(``earnings_school_for_manager``: 403 for the teacher, 404 for anyone else). A form that the services
refuse comes back with the reason next to its field; one they accept redirects to the page (POST, redirect,
GET). Sent twice, a form changes nothing the second time: each page's forms carry a key of that page
(``form_key``), and the very same form sent again from the same page is answered with the first one's
outcome without acting again; and whatever the key, the services lock the entries and act only on pending
(approve), held (review) or approved (pay) ones, so a repeat that overtakes the first answer is refused.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from chalkboard.common.api import MAX_ID
from chalkboard.common.errors import Conflict, ValidationFailed
from chalkboard.earnings import selectors, services
from chalkboard.earnings.exports import CSVRenderer, earnings_csv_rows
from chalkboard.earnings.models import EarningEntry, EarningStatus, ReviewDecision
from chalkboard.earnings.selectors import GroupBy
from chalkboard.people.models import Teacher
from chalkboard.schools.access import Action, Viewer, viewer_of
from chalkboard.schools.models import School
from chalkboard.web.pages import page, school_asked, signed_in

MAX_ENTRIES_PER_FORM = 500
ENTRIES_SHOWN = 200
CHART_HEIGHT = 100
BAR_STEP = 10
BAR_GAP = 1
SMALLEST_BAR = Decimal("0.5")  # a hairline, so that a period without earnings still shows
NOTICE = "web_earnings_notice"
SENT_FORMS = "web_earnings_sent"
SENT_FORMS_KEPT = 20
FORM_KEY = "form_key"
LIVE_REFRESH_HEADER = "X-Live-Refresh"
QUERY_KEYS = ("by", "from", "to")

CHOOSE_ENTRIES = "Choose at least one entry."
TOO_MANY_ENTRIES = f"Choose at most {MAX_ENTRIES_PER_FORM} entries at a time."
NOT_AN_ENTRY = "This is not an entry: %(value)s."


def _within_bounds(value: date) -> None:
    if not selectors.EARLIEST_DATE <= value <= selectors.LATEST_DATE:
        raise ValidationError(selectors.DATE_OUT_OF_BOUNDS)


class EarningsQueryForm(forms.Form):
    """The page's query: ``by`` (day, week, month) and the range ``from``/``to`` (Python keywords, hence
    added in ``__init__``), with the API's bounds."""

    by = forms.ChoiceField(choices=[(choice.value, choice.value.capitalize()) for choice in GroupBy], required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = forms.DateField(required=False, validators=[_within_bounds])
        self.fields["to"] = forms.DateField(required=False, validators=[_within_bounds])


class EntryIdsField(forms.MultipleChoiceField):
    """Checked entries, as ids: any positive id a database key holds (the services decide which are acted on)."""

    default_error_messages = {"required": CHOOSE_ENTRIES, "invalid_choice": NOT_AN_ENTRY}

    def valid_value(self, value: str) -> bool:
        return value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID

    def clean(self, value: Any) -> list[int]:
        ids = sorted({int(entry_id) for entry_id in super().clean(value)})
        if len(ids) > MAX_ENTRIES_PER_FORM:
            raise ValidationError(TOO_MANY_ENTRIES)
        return ids


class ApproveForm(forms.Form):
    entry = EntryIdsField()


class ReviewForm(forms.Form):
    entry = EntryIdsField()
    decision = forms.ChoiceField(choices=ReviewDecision.choices)
    reason = forms.CharField(max_length=500, required=False)


class PayoutForm(forms.Form):
    entry = EntryIdsField()
    reference = forms.CharField(max_length=100, required=False)


def _entries_told(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _approve(*, viewer: Viewer, school: School, teacher: Teacher, data: dict[str, Any]) -> str:
    approved = services.earnings_approve(viewer=viewer, school=school, entry_ids=data["entry"])
    total = sum((entry.amount for entry in approved), Decimal("0.00"))
    return f"Approved {_entries_told(len(approved))}: {total:.2f} {school.currency}."


def _review(*, viewer: Viewer, school: School, teacher: Teacher, data: dict[str, Any]) -> str:
    decision = ReviewDecision(data["decision"])
    decided = services.earnings_review(
        viewer=viewer, school=school, entry_ids=data["entry"], decision=decision, reason=data["reason"]
    )
    if decision == ReviewDecision.RELEASE:
        return f"Released {_entries_told(len(decided))}: they now wait for approval."
    return f"Rejected {_entries_told(len(decided))}: they will not be paid."


def _pay(*, viewer: Viewer, school: School, teacher: Teacher, data: dict[str, Any]) -> str:
    payout = services.payout_create(
        viewer=viewer, school=school, teacher_id=teacher.pk, entry_ids=data["entry"], reference=data["reference"]
    )
    return f"Recorded a payout of {payout.amount:.2f} {payout.currency} for {_entries_told(len(data['entry']))}."


Act = Callable[..., str]
ACTIONS: dict[str, tuple[type[forms.Form], Act]] = {
    "approve": (ApproveForm, _approve),
    "review": (ReviewForm, _review),
    "payout": (PayoutForm, _pay),
}


@require_http_methods(["GET", "POST"])
@signed_in
def teacher_earnings(request: HttpRequest, teacher_id: int) -> HttpResponseBase:
    """``/app/teachers/<id>/earnings/?school=&by=&from=&to=``: the page; its staff forms post back here."""
    if request.method == "POST":
        return _act(request, teacher_id)
    return _earnings_page(request, teacher_id)


def _act(request: HttpRequest, teacher_id: int) -> HttpResponseBase:
    """Run one staff form through its service: redirect to the page when done, the page with why if not."""
    viewer = viewer_of(request)
    teacher, school = selectors.earnings_scope_for(
        viewer=viewer, teacher_id=teacher_id, school_id=school_asked(request)
    )
    school = selectors.earnings_school_for_manager(viewer=viewer, school_id=school.pk)
    action = request.POST.get("action", "")
    if action not in ACTIONS:  # not one of the page's forms
        return _earnings_page(request, teacher_id, status=400)
    page_url = _page_url(teacher_id=teacher.pk, school_id=school.pk, request=request)
    sent = _sent_before(request)
    if sent is not None:
        request.session[NOTICE] = sent
        return redirect(page_url)
    form_class, act = ACTIONS[action]
    form = form_class(request.POST)
    if form.is_valid():
        try:
            notice = act(viewer=viewer, school=school, teacher=teacher, data=form.cleaned_data)
        except (ValidationFailed, Conflict) as refused:
            form.add_error("entry", refused.message)
        else:
            _remember_sent(request, notice)
            request.session[NOTICE] = notice
            return redirect(page_url)
    return _earnings_page(request, teacher_id, sent={action: form}, status=400)


def _fingerprint(request: HttpRequest) -> str:
    """The form as sent, whatever the order of its fields (its CSRF token aside)."""
    fields = sorted((key, sorted(values)) for key, values in request.POST.lists() if key != "csrfmiddlewaretoken")
    return hashlib.sha256(repr(fields).encode()).hexdigest()


def _sent_before(request: HttpRequest) -> str | None:
    """The notice of this very form, from this very page, if it was already done: the answer to a double
    submit. Each page carries a key of its own (``form_key``); another form or another page is not a repeat."""
    if not request.POST.get(FORM_KEY):
        return None
    done: dict[str, str] = request.session.get(SENT_FORMS, {})
    return done.get(_fingerprint(request))


def _remember_sent(request: HttpRequest, notice: str) -> None:
    done: dict[str, str] = request.session.get(SENT_FORMS, {})
    done[_fingerprint(request)] = notice
    request.session[SENT_FORMS] = dict(list(done.items())[-SENT_FORMS_KEPT:])


@require_GET
@signed_in
def teacher_earnings_csv(request: HttpRequest, teacher_id: int) -> HttpResponseBase:
    """The entries of the page's range as the API's CSV export (the same selector and rows)."""
    viewer = viewer_of(request)
    teacher, school = selectors.earnings_scope_for(
        viewer=viewer, teacher_id=teacher_id, school_id=school_asked(request)
    )
    query = EarningsQueryForm(request.GET)
    date_range = _range(query, school)
    if date_range is None:
        return _earnings_page(request, teacher_id, status=400)
    date_from, date_to = date_range
    entries = selectors.earning_entries_between(teacher=teacher, school=school, date_from=date_from, date_to=date_to)
    response = HttpResponse(
        CSVRenderer().render(earnings_csv_rows(entries, zone=school.zone)),
        content_type=f"{CSVRenderer.media_type}; charset={CSVRenderer.charset}",
    )
    filename = f"earnings-{teacher.pk}-{school.pk}-{date_from}-{date_to}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _range(query: EarningsQueryForm, school: School) -> tuple[date, date] | None:
    """The range the query asks for, with the API's defaults; ``None``, with the errors on the form, if bad."""
    if not query.is_valid():
        return None
    try:
        return selectors.earnings_range(
            school=school, date_from=query.cleaned_data["from"], date_to=query.cleaned_data["to"]
        )
    except ValidationFailed as refused:
        for field, messages in (refused.fields or {}).items():
            for message in messages:
                query.add_error(field, message)
        return None


def _page_url(*, teacher_id: int, school_id: int, request: HttpRequest, view: str = "web-teacher-earnings") -> str:
    """The page (or its CSV) for this school, keeping the query's ``by``, ``from`` and ``to``."""
    params: dict[str, str | int] = {"school": school_id}
    params.update({key: request.GET[key] for key in QUERY_KEYS if request.GET.get(key)})
    return f"{reverse(view, args=[teacher_id])}?{urlencode(params)}"


def _earnings_page(
    request: HttpRequest, teacher_id: int, *, sent: dict[str, forms.Form] | None = None, status: int = 200
) -> HttpResponse:
    viewer = viewer_of(request)
    teacher, school = selectors.earnings_scope_for(
        viewer=viewer, teacher_id=teacher_id, school_id=school_asked(request)
    )
    query = EarningsQueryForm(request.GET)
    date_range = _range(query, school)
    summary = None
    if date_range is None:
        status = 400
    else:
        group_by = GroupBy(query.cleaned_data["by"] or GroupBy.MONTH)
        summary = selectors.earnings_summary(
            teacher=teacher, school=school, date_from=date_range[0], date_to=date_range[1], group_by=group_by
        )
        for period in summary["periods"]:
            period["label"] = _period_label(date.fromisoformat(period["start"]), group_by)
    manages = viewer.can(Action.EARNINGS_MANAGE, school.pk)
    context = {
        "teacher": teacher,
        "school": school,
        "query": query,
        "summary": summary,
        "chart": _chart(summary["periods"]) if summary else None,
        "here": _page_url(teacher_id=teacher.pk, school_id=school.pk, request=request),
        "csv_url": _page_url(
            teacher_id=teacher.pk, school_id=school.pk, request=request, view="web-teacher-earnings-csv"
        ),
        "dashboard_url": f"{reverse('web-teacher-dashboard', args=[teacher.pk])}?school={school.pk}",
        "notice": _notice(request),
        "manages": manages,
        "nav_school": school.pk if manages else None,
    }
    if manages:
        context.update(_staff_context(viewer, teacher=teacher, school=school, sent=sent or {}))
    return page(request, "web/teacher_earnings.html", context, status=status)


def _notice(request: HttpRequest) -> str | None:
    """What the last form did, told once, on the page the browser was sent to. A live refresh (``app.js``)
    leaves it there: the socket's event of that very change can reach the page that sent the form first."""
    if request.method != "GET" or request.headers.get(LIVE_REFRESH_HEADER):
        return None
    notice: str | None = request.session.pop(NOTICE, None)
    return notice


def _staff_context(viewer: Viewer, *, teacher: Teacher, school: School, sent: dict[str, forms.Form]) -> dict[str, Any]:
    """What the staff's forms act on, whatever its date: pending, held and approved entries (the newest first),
    and the forms as sent when one was refused."""

    def entries(status: EarningStatus) -> list[EarningEntry]:
        found = selectors.earning_entry_list(viewer=viewer, school_id=school.pk, teacher_id=teacher.pk, status=status)
        return list(found[:ENTRIES_SHOWN])

    return {
        "pending": entries(EarningStatus.PENDING),
        "held": entries(EarningStatus.HELD),
        "approved": entries(EarningStatus.APPROVED),
        "entries_shown": ENTRIES_SHOWN,
        FORM_KEY: secrets.token_urlsafe(16),
        "approve_form": sent.get("approve", ApproveForm()),
        "review_form": sent.get("review", ReviewForm()),
        "payout_form": sent.get("payout", PayoutForm()),
    }


def _period_label(start: date, group_by: GroupBy) -> str:
    if group_by == GroupBy.MONTH:
        return f"{start:%b %Y}"
    if group_by == GroupBy.WEEK:
        return f"Week of {start.day} {start:%b %Y}"
    return f"{start:%a} {start.day} {start:%b %Y}"


def _chart(periods: list[dict[str, Any]]) -> dict[str, Any]:
    """One bar per period for what it earned, as heights out of ``CHART_HEIGHT`` (drawn by the template in SVG;
    a negative period, adjustments alone, draws as a hairline)."""
    amounts = [max(Decimal(period["earned"]), Decimal(0)) for period in periods]
    largest = max(amounts, default=Decimal(0))
    scale = Decimal(CHART_HEIGHT) / largest if largest > 0 else Decimal(0)
    bars = []
    for index, amount in enumerate(amounts):
        height = max(amount * scale, SMALLEST_BAR)
        bars.append(
            {
                "x": index * BAR_STEP + BAR_GAP,
                "y": f"{CHART_HEIGHT - height:.2f}",
                "width": BAR_STEP - 2 * BAR_GAP,
                "height": f"{height:.2f}",
            }
        )
    return {"bars": bars, "width": max(len(periods), 1) * BAR_STEP, "height": CHART_HEIGHT}
