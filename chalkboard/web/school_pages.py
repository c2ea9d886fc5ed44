"""A school as its owners and admins run it: its teachers, the sessions that wait to be completed and the pay
that waits for approval, each leading to the page where it is dealt with. Anyone else gets 404
(``school_get_for_staff``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from chalkboard.earnings.selectors import earnings_awaiting_in_school
from chalkboard.people.selectors import teacher_list, teaching_in
from chalkboard.scheduling.models import Session, SessionStatus
from chalkboard.scheduling.selectors import BOOKED, session_list_filtered
from chalkboard.schools.access import viewer_of
from chalkboard.schools.selectors import school_get_for_staff
from chalkboard.web.pages import page, signed_in

OLDEST_SHOWN = 5


@require_GET
@signed_in
def school_overview(request: HttpRequest, school_id: int) -> HttpResponseBase:
    """``/app/schools/<id>/``: the school's teachers, sessions to complete and earnings to approve."""
    viewer = viewer_of(request)
    school = school_get_for_staff(viewer=viewer, school_id=school_id)
    awaiting = earnings_awaiting_in_school(viewer=viewer, school_id=school.pk)
    teachers = [
        {
            "id": teacher.pk,
            "name": str(teacher.user),
            "dashboard_url": f"{reverse('web-teacher-dashboard', args=[teacher.pk])}?school={school.pk}",
            "earnings_url": f"{reverse('web-teacher-earnings', args=[teacher.pk])}?school={school.pk}",
            "awaiting": awaiting["by_teacher"].get(teacher.pk),
        }
        for teacher in teacher_list(viewer=viewer).filter(teaching_in(school.pk)).order_by("user__full_name", "pk")
    ]
    to_complete = session_list_filtered(
        viewer=viewer, school_id=school.pk, statuses=[SessionStatus.SCHEDULED], starts_before=timezone.now()
    )
    context = {
        "school": school,
        "teachers": teachers,
        "awaiting": awaiting,
        "to_complete_count": to_complete.count(),
        "to_complete": [_session_item(session) for session in to_complete[:OLDEST_SHOWN]],
        "nav_school": school.pk,
    }
    return page(request, "web/school_overview.html", context)


def _session_item(session: Session) -> dict[str, Any]:
    return {
        "starts_at": session.starts_at.isoformat(),
        "teacher": session.teacher.user.full_name,
        "subject": session.subject.name,
        "students": [booking.student.user.full_name for booking in getattr(session, BOOKED)],
        "dashboard_url": f"{reverse('web-teacher-dashboard', args=[session.teacher_id])}?school={session.school_id}",
    }
