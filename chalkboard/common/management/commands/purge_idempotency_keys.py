from typing import Any

from django.core.management.base import BaseCommand

from chalkboard.common.idempotency import idempotency_purge


class Command(BaseCommand):
    help = "Delete stored Idempotency-Key answers older than their retention (24 hours)."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = idempotency_purge()
        self.stdout.write(f"Deleted {deleted} expired idempotency records.")
