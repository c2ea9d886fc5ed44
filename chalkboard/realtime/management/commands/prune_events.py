from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chalkboard.common.errors import ValidationFailed
from chalkboard.realtime.services import events_prune, tickets_purge_expired


class Command(BaseCommand):
    help = "Delete events older than EVENT_RETENTION_DAYS (default 7; never under a day) and expired socket tickets."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            events = events_prune(older_than=timedelta(days=settings.EVENT_RETENTION_DAYS))
        except ValidationFailed as error:
            raise CommandError(error.message) from error
        tickets = tickets_purge_expired()
        self.stdout.write(f"Deleted {events} events and {tickets} expired tickets.")
