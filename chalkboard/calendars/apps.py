from django.apps import AppConfig


class CalendarsConfig(AppConfig):
    name = "chalkboard.calendars"
