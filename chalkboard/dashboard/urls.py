from django.urls import path

from chalkboard.dashboard.apis import TeacherDashboardApi

urlpatterns = [
    path("teachers/<id:teacher_id>/dashboard/", TeacherDashboardApi.as_view(), name="teacher-dashboard"),
]
