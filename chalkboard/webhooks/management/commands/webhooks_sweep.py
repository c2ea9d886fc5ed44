from typing import Any

from django.core.management.base import BaseCommand

from chalkboard.webhooks import jobs
from chalkboard.webhooks.services import webhooks_sweep


class Command(BaseCommand):
    help = (
        "Queue the webhook jobs that the database says are owed: planning for every school with an active "
        "endpoint, and delivery for every endpoint with a delivery due. Run it from cron (every few minutes) "
        "where a queue may lose its jobs (a Redis that keeps nothing on disk); jobs run twice do no harm."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        school_ids, endpoint_ids = webhooks_sweep()
        for school_id in school_ids:
            jobs.webhooks_plan.send(school_id)  # (here a queue that is away is an error to report)
        for endpoint_id in endpoint_ids:
            jobs.webhook_deliver.send(endpoint_id)
        self.stdout.write(f"queued planning for {len(school_ids)} schools, delivery to {len(endpoint_ids)} endpoints")
