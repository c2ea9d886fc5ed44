from typing import Any

from django.core.management.base import BaseCommand

from chalkboard.accounts.services import token_purge_expired


class Command(BaseCommand):
    help = "Delete expired API tokens."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = token_purge_expired()
        self.stdout.write(f"Deleted {deleted} expired tokens.")
