"""Production: the base settings, hardened. ``SECRET_KEY`` and ``ALLOWED_HOSTS`` must come from the environment."""

import os

from config.env import env_bool, env_int
from config.settings.base import *  # noqa: F403

if not os.environ.get("SECRET_KEY"):
    raise RuntimeError("Production needs SECRET_KEY in the environment.")

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
# Webhooks go out over https only (an endpoint on plain http is refused when made and when delivered to).
WEBHOOKS_REQUIRE_HTTPS = env_bool("WEBHOOKS_REQUIRE_HTTPS", default=True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

# Static files: collected with content-hashed names (``bin/serve-production`` runs collectstatic first) and
# served by WhiteNoise compressed, with far-future, immutable caching of every hashed name.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = False
