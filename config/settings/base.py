"""Settings shared by every environment. Everything configurable comes through ``config.env``."""

from datetime import timedelta

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from config.env import VAR_DIR, env_bool, env_int, env_list, env_str, secret_key

SECRET_KEY = secret_key()
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "chalkboard.common",
    "chalkboard.accounts",
    "chalkboard.schools",
    "chalkboard.people",
    "chalkboard.invitations",
    "chalkboard.scheduling",
    "chalkboard.progress",
    "chalkboard.earnings",
    "chalkboard.activity",
    "chalkboard.dashboard",
    "chalkboard.realtime",
    "chalkboard.calendars",
    "chalkboard.webhooks",
    "chalkboard.web",
]
# The demo seeder (`manage.py seed_demo`) is installed by the local and test settings only: production
# never serves or runs it.
DEMO_APPS = ["chalkboard.demo"]

MIDDLEWARE = [
    # First, so that every answer (errors and static files too) carries the CORS headers of an allowed origin.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chalkboard.common.middleware.SecurityHeadersMiddleware",
    "chalkboard.common.middleware.RateLimitHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "chalkboard.common.middleware.RequestSizeLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    # The pages (chalkboard.web) sign people in with a session cookie, and every form of theirs carries a
    # CSRF token. The API never reads the session: it authenticates bearer tokens only (REST_FRAMEWORK).
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_AGE = env_int("SESSION_HOURS", 12) * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "chalkboard.web.pages.csrf_failure"
LOGIN_URL = "/"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# --- Database: SQLite under var/ unless DATABASE_URL names another one. -------------------------------
DEFAULT_ASGI_POOL = 8
# A request that finds every pooled connection busy waits this long for one, then answers 503.
POOL_WAIT_SECONDS = 10
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'chalkboard.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60))}
_database = DATABASES["default"]
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {
        # Writers queue up instead of failing with "database is locked" halfway through a transaction.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Short OLTP queries: JIT compilation costs more than it saves (measured ~25 ms on the dashboard).
    # Parameters are bound by the server, and a statement a connection runs DATABASE_PREPARE_THRESHOLD
    # times (5 unless set) is prepared: PostgreSQL then plans it once per connection instead of on every run
    # (planning was about 40% of the uncached dashboard's time in the database: docs/performance.md).
    # DATABASE_PREPARE_THRESHOLD=off turns preparing off, for a pooler that cannot keep prepared statements
    # (PgBouncer in transaction mode before 1.21). After a migration that changes a table, restart the servers.
    _threshold = env_str("DATABASE_PREPARE_THRESHOLD", "5")
    _database["OPTIONS"] = {
        "options": "-c jit=off",
        "server_side_binding": True,
        "prepare_threshold": None if _threshold == "off" else int(_threshold),
    }
    # An ASGI process (`make run`, any uvicorn, the socket process) runs each request's sync code on a thread
    # of its own, and a persistent connection per thread means as many connections as requests in flight:
    # it always shares a bounded pool (DATABASE_POOL connections at most, 8 unless set). A WSGI worker
    # serves one request at a time and keeps one persistent connection, unless DATABASE_POOL asks for a pool.
    SERVES_ASGI = env_bool("CHALKBOARD_ASGI")
    pool_size = env_int("DATABASE_POOL", DEFAULT_ASGI_POOL if SERVES_ASGI else 0)
    if SERVES_ASGI and pool_size < 1:
        raise ImproperlyConfigured("An ASGI process needs a connection pool: DATABASE_POOL must be 1 or more.")
    if pool_size:
        _database["CONN_MAX_AGE"] = 0
        _database["OPTIONS"]["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": POOL_WAIT_SECONDS}
    else:
        _database["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, throttles and announcements: Redis when REDIS_URL is set, in-process otherwise. -----------
REDIS_URL = env_str("REDIS_URL")
# Every key, and the dashboards' announcement channel (chalkboard.realtime.publishing), under this prefix:
# deployments that share a Redis keep apart.
CACHE_KEY_PREFIX = env_str("CACHE_KEY_PREFIX", "chalkboard")
# Every Redis client gives up on a call after this long (connecting, or waiting for an answer; the
# dashboards' subscription to announcements excepted), and while Redis is away each process tries it again
# once per interval (chalkboard.common.breaker): a frozen Redis costs a process one timeout per interval,
# not one per call.
REDIS_TIMEOUT_SECONDS = float(env_str("REDIS_TIMEOUT_SECONDS", "0.5"))
REDIS_RETRY_SECONDS = float(env_str("REDIS_RETRY_SECONDS", "5"))
if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis behind the breaker: a Redis outage makes answers slower, never wrong or failing.
            "BACKEND": "chalkboard.common.redis_cache.BreakerRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": REDIS_TIMEOUT_SECONDS,
                "SOCKET_TIMEOUT": REDIS_TIMEOUT_SECONDS,
                # A connection that went stale while Redis restarted is retried once on a new one (a
                # timeout is not retried: it would only double the wait).
                "CONNECTION_POOL_KWARGS": {"retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))},
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "chalkboard",
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }
# No channel layer: the dashboards' sockets hear of new events through one announcement per transaction
# (chalkboard.realtime.publishing), on Redis or, without it, within the process.

# How long the real-time event log is kept, so a dashboard can resume after being away (at least a day).
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 7)

# Socket consumers run their database calls on the executor's threads, not one shared thread.
REALTIME_DB_THREAD_SENSITIVE = env_bool("REALTIME_DB_THREAD_SENSITIVE")

# --- Accounts and passwords. ----------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Invitations and mail. ------------------------------------------------------------------------
# Invitation tokens are mailed to the invited address. The embedded default writes each letter to a file
# under var/mail (never to the logs, which must hold no token); production names its SMTP server.
INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 14)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Chalkboard <no-reply@chalkboard.example>")

REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": timedelta(hours=env_int("TOKEN_TTL_HOURS", 12)),
    "AUTO_REFRESH": False,
}

# --- Internationalisation: everything is stored in UTC; schools have their own time zone. ----------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# The proxies whose X-Forwarded-For names the client (per-address rate limits): deploy/nginx.conf on the
# same host, by default. Only the address the proxy itself appends is taken.
FORWARDED_ALLOW_IPS = frozenset(env_list("FORWARDED_ALLOW_IPS", ["127.0.0.1", "::1"]))

# --- Calendar feeds (chalkboard.calendars). ------------------------------------------------------------
# The right-hand side of every feed event's UID (session-<id>@<domain>): a name of the deployment's own, the
# same for its whole life, so that calendar apps recognise the same session across reads.
CALENDAR_UID_DOMAIN = env_str("CALENDAR_UID_DOMAIN", "chalkboard.invalid")

# --- Background jobs (chalkboard.common.jobs) and webhooks (chalkboard.webhooks). ----------------------
# The jobs' queues: Redis (the deployment's own, by default), run by workers of their own (bin/jobs-worker);
# none on the embedded default, where an in-memory queue is run by a worker inside the server.
JOBS_BROKER_URL = env_str("JOBS_BROKER_URL", REDIS_URL)
JOBS_NAMESPACE = env_str("JOBS_NAMESPACE", f"{env_str('CACHE_KEY_PREFIX', 'chalkboard')}-jobs")
JOBS_WORKER_IN_SERVER = env_bool("JOBS_WORKER_IN_SERVER", default=not JOBS_BROKER_URL)
JOBS_WORKER_THREADS = env_int("JOBS_WORKER_THREADS", 4)
# A worker that sent no heartbeat for this long is dead: its unfinished jobs go back on the queue, checked by
# one in JOBS_MAINTENANCE_CHANCE / 1,000,000 of the workers' calls to Redis (Dramatiq's maintenance).
JOBS_HEARTBEAT_TIMEOUT_MS = env_int("JOBS_HEARTBEAT_TIMEOUT_MS", 30_000)
JOBS_MAINTENANCE_CHANCE = env_int("JOBS_MAINTENANCE_CHANCE", 10_000)
# Webhook endpoints may be plain http only where this is off (production turns it on), and never resolve to
# a loopback, private, link-local or otherwise special address unless it is in one of these networks.
WEBHOOKS_REQUIRE_HTTPS = env_bool("WEBHOOKS_REQUIRE_HTTPS")
WEBHOOKS_ALLOWED_NETWORKS = env_list("WEBHOOKS_ALLOWED_NETWORKS", [])
# How long a delivered webhook delivery and its attempts stay in the delivery log (manage.py
# prune_webhook_deliveries; at least a day). Deliveries still owed are kept however old.
WEBHOOK_DELIVERY_RETENTION_DAYS = env_int("WEBHOOK_DELIVERY_RETENTION_DAYS", 30)

# --- Rate limits (chalkboard.common.throttling): each scope's rate from THROTTLE_<SCOPE>. -----------
THROTTLE_RATES = {
    scope: env_str(f"THROTTLE_{scope.upper()}", default)
    for scope, default in {
        # Any request of an authenticated user (of an address, when anonymous).
        "user": "1200/min",
        # Every attempt on the token endpoint (POST /api/auth/token/), per client address.
        "login_address": "30/min",
        # Failed attempts on the token endpoint, per account and client address (a success takes its
        # attempt back): a guesser locks out their own address, not the account's owner.
        "login_account_address": "10/min",
        # Failed attempts per account from addresses that never signed in to it: the ceiling for a
        # guesser spread over many addresses (chalkboard.accounts.lockout).
        "login_account": "100/min",
        # Tokens issued per account: each is a live credential and a database row. (Knox's own
        # TOKEN_LIMIT_PER_USER applies only to its login view, which Chalkboard does not use.)
        "tokens_issued": "30/hour",
        # Dashboards per user: one that is not cached costs a dozen queries to build.
        "dashboard": "120/min",
        # CSV exports of earnings per user: every entry of the range, unpaginated.
        "export": "20/min",
        # WebSocket tickets per user (POST /api/auth/ws-ticket/): each opens a socket.
        "ws_ticket": "30/min",
        # Calendar feed reads per client address (GET /calendar/<secret>.ics): calendar apps read a feed a
        # few times an hour; a guesser of secrets meets this long before a 256-bit secret.
        "calendar_feed": "120/min",
    }.items()
}

# --- REST framework. -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["chalkboard.accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["chalkboard.common.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "chalkboard.common.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_METADATA_CLASS": "chalkboard.common.metadata.ViewMetadata",
    "EXCEPTION_HANDLER": "chalkboard.common.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "chalkboard.common.throttling.UserThrottle",
        "chalkboard.common.throttling.RouteThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": THROTTLE_RATES,
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chalkboard API",
    "DESCRIPTION": "One API over a tutoring school's day: dashboards, sessions, progress and earnings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/",
    # Ids in paths (``chalkboard.common.converters.IdConverter``): positive, at most 18 digits.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "chalkboard.common.api.document_common_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "AttendanceEnum": "chalkboard.scheduling.models.Attendance",
        "NoteVisibilityEnum": "chalkboard.scheduling.models.NoteVisibility",
        "EarningStatusEnum": "chalkboard.earnings.models.EarningStatus",
        "EarningKindEnum": "chalkboard.earnings.models.EarningKind",
        "SessionStatusEnum": "chalkboard.scheduling.models.SessionStatus",
        "AssessmentKindEnum": "chalkboard.progress.models.AssessmentKind",
        "ProgressLevelEnum": "chalkboard.progress.models.Level",
        "ProgressTrendEnum": "chalkboard.progress.models.Trend",
        "RoleEnum": "chalkboard.schools.models.Role",
        "CalendarFeedKindEnum": "chalkboard.calendars.models.FeedKind",
        "EventTypeEnum": "chalkboard.realtime.models.EventType",
    },
}

# --- Request limits: a larger body is refused with 413 (chalkboard.common.middleware). -----------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 1024 * 1024)

# --- Response headers (Django's SecurityMiddleware and clickjacking middleware; the Content-Security-Policy
# and Cache-Control come from chalkboard.common.middleware.SecurityHeadersMiddleware). --------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- CORS: browsers on these origins may call the API (bearer tokens: no cookies, no credentials). -----
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "idempotency-key", "if-none-match"]
CORS_EXPOSE_HEADERS = [
    "Content-Disposition",
    "ETag",
    "Idempotent-Replayed",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]
CORS_PREFLIGHT_MAX_AGE = 3600

# --- Logging: messages only. Request bodies and headers are never logged, and whatever slips into a message
# (a bearer token, an email address, a password field) is redacted before it is written. -----------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "chalkboard.common.logs.RedactSecrets"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Only through the root's redacting handler: not Django's own console handler nor its mail_admins
        # handler (whose reports carry the request's headers).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}
