from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "chalkboard.demo"
