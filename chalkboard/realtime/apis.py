from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chalkboard.realtime.services import ticket_issue


class TicketOutput(serializers.Serializer):
    ticket = serializers.CharField()
    expires_at = serializers.DateTimeField()


class WebSocketTicketApi(APIView):
    """A single-use ticket to open `/ws/dashboard/` from a browser, which cannot send an `Authorization`
    header on a WebSocket handshake: offer the subprotocols `chalkboard` and `chalkboard.ticket.<ticket>`
    (never put it in the URL: that is refused, and spends it). Valid 30 seconds; dies with the bearer
    token it was issued from."""

    @extend_schema(request=None, responses={200: TicketOutput})
    def post(self, request: Request) -> Response:
        ticket, expires_at = ticket_issue(token=request.auth)
        return Response(TicketOutput({"ticket": ticket, "expires_at": expires_at}).data)
