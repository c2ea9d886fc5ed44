from django.urls import path

from chalkboard.web import earnings_pages, pages, school_pages

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
]
