"""Test settings: the same stack as production, with a fast password hasher."""

import os
from urllib.parse import urlsplit, urlunsplit

from config.env import env_bool


def redis_url_of_worker(url: str, worker: str) -> str:
    """pytest-xdist's workers share one Redis, and each test flushes the cache: worker ``gwN`` takes the
    database N after the one ``url`` names (modulo Redis's 16), so that no worker flushes another's."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(database + int(worker.removeprefix('gw'))) % 16}"))


# Before the base settings read them; server processes the tests start inherit the same values.
if os.environ.get("REDIS_URL") and (_worker := os.environ.get("PYTEST_XDIST_WORKER")):
    os.environ["REDIS_URL"] = redis_url_of_worker(os.environ["REDIS_URL"], _worker)
    os.environ["CACHE_KEY_PREFIX"] = f"chalkboard-{_worker}"

from config.settings.base import *  # noqa: E402, F403
from config.settings.base import DEMO_APPS, INSTALLED_APPS, REST_FRAMEWORK, THROTTLE_RATES  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, *DEMO_APPS]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Out of the way of the suite, except the failed-login limit the account tests rely on; tests of a scope
# set its rate themselves.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **dict.fromkeys(THROTTLE_RATES, "100000/min"),
        "login_address": "1000/min",
        "login_account_address": "5/min",
        "login_account": "50/min",
    },
}

# Test data lives in one uncommitted transaction, bound to the test's thread (see chalkboard.realtime.db).
REALTIME_DB_THREAD_SENSITIVE = env_bool("REALTIME_DB_THREAD_SENSITIVE", default=True)

# The tests' webhook receivers listen on the loopback address, which production never delivers to.
WEBHOOKS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
# The suite's servers never run jobs on their own: each test runs the jobs it means to, when it means to.
JOBS_WORKER_IN_SERVER = env_bool("JOBS_WORKER_IN_SERVER")
