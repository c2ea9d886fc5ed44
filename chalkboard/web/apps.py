from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "chalkboard.web"
    label = "web"
