from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "chalkboard.webhooks"

    def ready(self) -> None:
        from chalkboard.realtime.signals import events_committed
        from chalkboard.webhooks import jobs

        events_committed.connect(jobs.schools_committed, dispatch_uid="webhooks")
