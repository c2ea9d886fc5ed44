from django.apps import AppConfig


class SchoolsConfig(AppConfig):
    name = "chalkboard.schools"

    def ready(self) -> None:
        from chalkboard.schools import signals

        signals.connect()
