from django.urls import path

from chalkboard.web import assessment_pages, pages, progress_pages, session_pages

urlpatterns = [
    path("", pages.sign_in, name="web-sign-in"),
    path("sign-out/", pages.sign_out, name="web-sign-out"),
    path("app/", pages.home, name="web-home"),
    path("app/teachers/<id:teacher_id>/dashboard/", pages.teacher_dashboard, name="web-teacher-dashboard"),
    path("app/sessions/<id:session_id>/complete/", session_pages.session_complete, name="web-session-complete"),
    path(
        "app/students/<id:student_id>/progress/",
        progress_pages.student_progress_page,
        name="web-student-progress",
    ),
    path(
        "app/students/<id:student_id>/assessments/new/",
        assessment_pages.assessment_new,
        name="web-assessment-new",
    ),
]
