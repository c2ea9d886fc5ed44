"""The job workers' entry point: ``dramatiq config.jobs`` (``bin/jobs-worker``). Setting Django up loads every
app, which sets the broker (``chalkboard.common.jobs``) and declares the jobs."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
django.setup()
