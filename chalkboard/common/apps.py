from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "chalkboard.common"

    def ready(self) -> None:
        from chalkboard.common.logs import redact_every_handler

        # Logging is configured by now (Django's settings, and the server's own before it loaded us).
        redact_every_handler()

        from chalkboard.common.jobs import broker_setup

        # Before any app declares its jobs (their actors bind to the broker set here).
        broker_setup()

        from django.db.backends.signals import connection_created

        from chalkboard.common.pg_timestamps import timestamps_compiled

        connection_created.connect(timestamps_compiled, dispatch_uid="chalkboard.timestamps_compiled")
