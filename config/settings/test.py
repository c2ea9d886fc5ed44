"""Test settings: the same stack as production, with a fast password hasher."""

from config.settings.base import *  # noqa: F403
from config.settings.base import REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "login_address": "1000/min", "login_account": "5/min"},
}
