"""The embedded default: what `make run` and a developer's machine use."""

from config.settings.base import *  # noqa: F403
from config.settings.base import DEMO_APPS, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, *DEMO_APPS]
