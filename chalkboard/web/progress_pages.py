"""A student's progress for people: the page ``GET /api/students/{id}/progress/`` answers, from the same access
function, selector and cache, rendered on the server.

Whoever may read the API's page may open this one (the school's staff, the student's teachers, the student and
their guardians); anyone else gets the same 404 as for an unknown id. The notes are those the selector keeps
for the viewer: a guardian reads the shared notes, never the staff or admin ones.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.http import require_GET

from chalkboard.people.selectors import student_get_for_viewer
from chalkboard.progress.selectors import progress_may_manage, student_progress
from chalkboard.realtime.selectors import Audience
from chalkboard.schools.access import Viewer, viewer_of
from chalkboard.web.pages import family_students, page, signed_in


@require_GET
@signed_in
def student_progress_page(request: HttpRequest, student_id: int) -> HttpResponseBase:
    """Per subject and skill, goals, history, recent assessments, attendance and notes; live for those the
    dashboard socket tells of the school's changes."""
    viewer = viewer_of(request)
    student = student_get_for_viewer(viewer=viewer, student_id=student_id)
    progress = student_progress(viewer=viewer, student=student)
    family = family_students(viewer=viewer)
    context = {
        "progress": progress,
        "school": student.school,
        "zone": student.school.timezone,
        "live": hears_school(viewer, student.school_id),
        "may_record": progress_may_manage(viewer=viewer, student=student),
        "family": family if len(family) > 1 and student in family else [],
    }
    return page(request, "web/student_progress.html", context)


def hears_school(viewer: Viewer, school_id: int) -> bool:
    """Whether ``/ws/dashboard/`` takes this viewer and tells them of this school's changes: its staff and its
    teachers. The socket refuses students and guardians (4403), so their pages do not try to be live."""
    audience = Audience.of(viewer)
    return school_id in audience.staff_school_ids | audience.teaching_school_ids
