from django.urls import path

from chalkboard.invitations import apis

urlpatterns = [
    path("invitations/", apis.MyInvitationListApi.as_view(), name="invitation-list"),
    path("invitations/accept/", apis.InvitationTokenAcceptApi.as_view(), name="invitation-token-accept"),
    path("invitations/<id:invitation_id>/accept/", apis.InvitationAcceptApi.as_view(), name="invitation-accept"),
    path("schools/<id:school_id>/invitations/", apis.SchoolInvitationListApi.as_view(), name="school-invitation-list"),
    path(
        "schools/<id:school_id>/invitations/<id:invitation_id>/",
        apis.SchoolInvitationDetailApi.as_view(),
        name="school-invitation-detail",
    ),
]
