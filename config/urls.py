from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from chalkboard.common.converters import IdConverter
from chalkboard.common.health import healthz, readyz

register_converter(IdConverter, "id")

handler404 = "chalkboard.common.errors.page_not_found"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("chalkboard.accounts.urls")),
    path("api/", include("chalkboard.schools.urls")),
    path("api/", include("chalkboard.people.urls")),
    path("api/", include("chalkboard.scheduling.urls")),
    path("api/", include("chalkboard.scheduling.completion_urls")),
    path("api/", include("chalkboard.progress.urls")),
    path("api/", include("chalkboard.earnings.urls")),
    path("api/", include("chalkboard.dashboard.urls")),
]
