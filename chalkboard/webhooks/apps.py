from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "chalkboard.webhooks"

    def ready(self) -> None:
        from chalkboard.realtime.signals import events_committed
        from chalkboard.schools.signals import membership_deactivated
        from chalkboard.webhooks import jobs, services

        events_committed.connect(jobs.schools_committed, dispatch_uid="webhooks")
        membership_deactivated.connect(services.endpoints_of_leaver_disable, dispatch_uid="webhooks")
