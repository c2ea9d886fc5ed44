from django.urls import path

from chalkboard.realtime.apis import WebSocketTicketApi

urlpatterns = [
    path("auth/ws-ticket/", WebSocketTicketApi.as_view(), name="auth-ws-ticket"),
]
