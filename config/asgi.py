"""HTTP and WebSockets on one ASGI application."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# The settings give every ASGI process a bounded connection pool (config/settings/base.py).
os.environ["CHALKBOARD_ASGI"] = "1"
# Django is set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chalkboard.common.bodies import BodyLimitASGI  # noqa: E402
from chalkboard.common.jobs import worker_start_in_server  # noqa: E402
from chalkboard.realtime.auth import TokenAuthMiddleware, allowed_hosts_origin_validator  # noqa: E402
from chalkboard.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Bodies are counted as they arrive, before Django reads any (chalkboard.common.bodies).
        "http": BodyLimitASGI(django_asgi_app),
        "websocket": allowed_hosts_origin_validator(TokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

# The embedded default runs its jobs (webhook deliveries) in this process; with Redis, workers of their own do.
worker_start_in_server()

# Everything loaded so far lives as long as the process: keep it out of the garbage collector's full
# passes, which otherwise walk it again and again. With 1,000 dashboards connected, a full pass held the
# event loop long enough to put the socket latency's p99 at 90 ms; 46 ms without (docs/performance.md).
gc.freeze()
