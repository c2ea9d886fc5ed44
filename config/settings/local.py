"""The embedded default: what `make run` and a developer's machine use."""

from config.settings.base import *  # noqa: F403
