from django.urls import path

from chalkboard.completion.apis import SessionCompleteApi, SessionNoShowApi

urlpatterns = [
    path("sessions/<id:session_id>/complete/", SessionCompleteApi.as_view(), name="session-complete"),
    path("sessions/<id:session_id>/no-show/", SessionNoShowApi.as_view(), name="session-no-show"),
]
