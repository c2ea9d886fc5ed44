from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SchedulingConfig(AppConfig):
    name = "chalkboard.scheduling"

    def ready(self) -> None:
        from chalkboard.scheduling.triggers import install_after_migrate

        post_migrate.connect(install_after_migrate, sender=self, dispatch_uid="scheduling_triggers")
