"""Test settings: the same stack as production, with a fast password hasher."""

from config.env import env_bool
from config.settings.base import *  # noqa: F403
from config.settings.base import REST_FRAMEWORK, THROTTLE_RATES

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
