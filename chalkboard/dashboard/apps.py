from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "chalkboard.dashboard"
