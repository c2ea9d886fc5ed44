from django.urls import URLPattern, path

from chalkboard.progress import apis

urlpatterns: list[URLPattern] = [
    path("assessments/", apis.AssessmentListCreateApi.as_view(), name="assessment-list"),
    path("students/<id:student_id>/progress/", apis.StudentProgressApi.as_view(), name="student-progress"),
    path("students/<id:student_id>/goals/", apis.StudentGoalsApi.as_view(), name="student-goals"),
    path("goals/<id:goal_id>/", apis.GoalDetailApi.as_view(), name="goal-detail"),
]
