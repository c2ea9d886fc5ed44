from django.urls import path

from chalkboard.scheduling.completion_apis import SessionCompleteApi, SessionNoShowApi

urlpatterns = [
    path("sessions/<id:session_id>/complete/", SessionCompleteApi.as_view(), name="session-complete"),
    path("sessions/<id:session_id>/no-show/", SessionNoShowApi.as_view(), name="session-no-show"),
]
