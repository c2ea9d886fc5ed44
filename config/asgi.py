"""HTTP and WebSockets on one ASGI application."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Django is set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chalkboard.realtime.auth import TokenAuthMiddleware, allowed_hosts_origin_validator  # noqa: E402
from chalkboard.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": allowed_hosts_origin_validator(TokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
