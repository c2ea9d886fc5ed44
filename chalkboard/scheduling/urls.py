from django.urls import path

from chalkboard.scheduling.apis import SessionCancelApi, SessionDetailApi, SessionListApi

urlpatterns = [
    path("sessions/", SessionListApi.as_view(), name="session-list"),
    path("sessions/<id:session_id>/", SessionDetailApi.as_view(), name="session-detail"),
    path("sessions/<id:session_id>/cancel/", SessionCancelApi.as_view(), name="session-cancel"),
]
