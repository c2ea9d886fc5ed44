"""Test settings: the same stack as production, with a fast password hasher."""

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
        "login_account": "5/min",
    },
}
