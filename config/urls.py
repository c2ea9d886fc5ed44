from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chalkboard.common.converters import IdConverter
from chalkboard.common.health import healthz, readyz

register_converter(IdConverter, "id")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file, so the docs page needs no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api/", include("chalkboard.accounts.urls")),
    path("api/", include("chalkboard.schools.urls")),
    path("api/", include("chalkboard.people.urls")),
    path("api/", include("chalkboard.invitations.urls")),
    path("api/", include("chalkboard.scheduling.urls")),
    path("api/", include("chalkboard.completion.urls")),
    path("api/", include("chalkboard.progress.urls")),
    path("api/", include("chalkboard.earnings.urls")),
    path("api/", include("chalkboard.dashboard.urls")),
    path("api/", include("chalkboard.realtime.urls")),
    path("api/", include("chalkboard.calendars.urls")),
    path("api/", include("chalkboard.webhooks.urls")),
    path("", include("chalkboard.web.urls")),
]

# Errors outside the views: the API's JSON error shape under /api/, the error page elsewhere (chalkboard.web).
handler400 = "chalkboard.common.errors.bad_request"
handler403 = "chalkboard.web.pages.permission_denied"
handler404 = "chalkboard.web.pages.not_found"
handler500 = "chalkboard.common.errors.server_error"
