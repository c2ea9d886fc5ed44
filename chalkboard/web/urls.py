from django.urls import path

from chalkboard.web import assessment_pages, earnings_pages, pages, progress_pages, school_pages, session_pages

urlpatterns = [
    path("", pages.sign_in, name="web-sign-in"),
    path("sign-out/", pages.sign_out, name="web-sign-out"),
    path("app/", pages.home, name="web-home"),
    path("app/schools/<id:school_id>/", school_pages.school_overview, name="web-school-overview"),
    path("app/teachers/<id:teacher_id>/dashboard/", pages.teacher_dashboard, name="web-teacher-dashboard"),
    path("app/teachers/<id:teacher_id>/earnings/", earnings_pages.teacher_earnings, name="web-teacher-earnings"),
    path(
        "app/teachers/<id:teacher_id>/earnings/csv/",
        earnings_pages.teacher_earnings_csv,
        name="web-teacher-earnings-csv",
    ),
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
