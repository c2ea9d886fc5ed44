from django.apps import AppConfig


class EarningsConfig(AppConfig):
    name = "chalkboard.earnings"
