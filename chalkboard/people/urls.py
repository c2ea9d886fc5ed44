from django.urls import path

from chalkboard.people import apis

urlpatterns = [
    path("teachers/", apis.TeacherListApi.as_view(), name="teacher-list"),
    path("teachers/<id:teacher_id>/", apis.TeacherDetailApi.as_view(), name="teacher-detail"),
    path("students/", apis.StudentListApi.as_view(), name="student-list"),
    path("students/<id:student_id>/", apis.StudentDetailApi.as_view(), name="student-detail"),
    path("guardians/", apis.GuardianListApi.as_view(), name="guardian-list"),
    path("guardians/<id:guardian_id>/", apis.GuardianDetailApi.as_view(), name="guardian-detail"),
    path("assignments/", apis.AssignmentListApi.as_view(), name="assignment-list"),
    path("assignments/<id:assignment_id>/", apis.AssignmentDetailApi.as_view(), name="assignment-detail"),
]
