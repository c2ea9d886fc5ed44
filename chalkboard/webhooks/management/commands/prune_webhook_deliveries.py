from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chalkboard.common.errors import ValidationFailed
from chalkboard.webhooks.services import deliveries_prune


class Command(BaseCommand):
    help = (
        "Delete webhook deliveries delivered more than WEBHOOK_DELIVERY_RETENTION_DAYS ago (default 30; never "
        "under a day), with their attempts. Deliveries still owed are kept. Run it daily."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            deliveries, attempts = deliveries_prune(older_than=timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS))
        except ValidationFailed as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Deleted {deliveries} webhook deliveries and their {attempts} attempts.")
