"""Recording an assessment from a page: the same input rules as ``POST /api/assessments/`` and the same
service (``assessment_create``), which checks who may assess the student (the school's staff, or a teacher
the student is assigned to) and updates the student's progress in the same transaction.

A form sent twice (a double click, a reload) records once: each form carries its own key, taken once.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from chalkboard.common.errors import ValidationFailed
from chalkboard.people.models import Student
from chalkboard.people.selectors import student_get_for_viewer
from chalkboard.progress.apis import AssessmentInput
from chalkboard.progress.models import AssessmentKind
from chalkboard.progress.selectors import progress_require_manager
from chalkboard.progress.services import assessment_create
from chalkboard.schools.access import Viewer, viewer_of
from chalkboard.schools.selectors import subject_list
from chalkboard.web.pages import page, signed_in

FORM_KEY_SECONDS = 24 * 3600
FIELDS = ("subject_id", "skill_id", "kind", "score", "max_score", "comments")


@require_http_methods(["GET", "POST"])
@signed_in
def assessment_new(request: HttpRequest, student_id: int) -> HttpResponseBase:
    viewer = viewer_of(request)
    student = student_get_for_viewer(viewer=viewer, student_id=student_id)
    progress_require_manager(viewer=viewer, student=student)
    if request.method == "GET":
        return _form(request, viewer, student, errors={}, status=200)
    done = reverse("web-student-progress", args=[student.pk])
    # A form's own key (a request without one is a form of its own).
    form_key = request.POST.get("form_key", "")[:64] or secrets.token_urlsafe(16)
    key = f"web:assessment-form:{viewer.user.pk}:{form_key}"
    if not cache.add(key, 1, timeout=FORM_KEY_SECONDS):  # this form was sent already
        return redirect(done)
    data: dict[str, Any] = {name: request.POST.get(name, "") for name in FIELDS}
    data["skill_id"] = data["skill_id"] or None
    data["student_id"] = student.pk
    parsed = AssessmentInput(data=data)
    errors: dict[str, list[str]] = {}
    if not parsed.is_valid():
        errors = {name: [str(message) for message in messages] for name, messages in parsed.errors.items()}
    else:
        try:
            assessment_create(viewer=viewer, **parsed.validated_data)
        except ValidationFailed as refused:
            errors = {
                name: list(messages) for name, messages in (refused.fields or {"form": [refused.message]}).items()
            }
    if errors:
        cache.delete(key)  # nothing was recorded: the same form may be sent again
        return _form(request, viewer, student, errors=errors, status=400)
    return redirect(done)


def _form(
    request: HttpRequest, viewer: Viewer, student: Student, *, errors: dict[str, list[str]], status: int
) -> HttpResponseBase:
    subjects = [
        {"id": subject.pk, "name": subject.name, "skills": [(skill.pk, skill.name) for skill in subject.skills.all()]}
        for subject in subject_list(viewer=viewer).filter(school_id=student.school_id)
    ]
    context = {
        "student": student,
        "subjects": subjects,
        "kinds": [(kind.value, kind.label.capitalize()) for kind in AssessmentKind],
        "values": request.POST,
        "errors": errors,
        "form_key": secrets.token_urlsafe(16),
        "progress_url": reverse("web-student-progress", args=[student.pk]),
    }
    return page(request, "web/assessment_new.html", context, status=status)
