from django.urls import path

from chalkboard.schools import apis

urlpatterns = [
    path("schools/", apis.SchoolListApi.as_view(), name="school-list"),
    path("schools/<id:school_id>/", apis.SchoolDetailApi.as_view(), name="school-detail"),
    path("schools/<id:school_id>/members/", apis.MemberListApi.as_view(), name="school-member-list"),
    path(
        "schools/<id:school_id>/members/<id:membership_id>/",
        apis.MemberDetailApi.as_view(),
        name="school-member-detail",
    ),
    path("subjects/", apis.SubjectListApi.as_view(), name="subject-list"),
    path("subjects/<id:subject_id>/", apis.SubjectDetailApi.as_view(), name="subject-detail"),
    path("subjects/<id:subject_id>/skills/", apis.SkillCreateApi.as_view(), name="subject-skill-create"),
]
