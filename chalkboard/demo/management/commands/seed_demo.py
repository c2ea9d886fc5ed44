"""``manage.py seed_demo --manifest PATH [--size small|bench] [--seed N] [--password P] [--if-empty]``"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from chalkboard.demo.manifest import manifest_build, manifest_write
from chalkboard.demo.services import demo_is_loaded, demo_seed
from chalkboard.demo.specs import SIZES

DEFAULT_SEED = 42
NOT_EMPTY = "The database already has schools; seed_demo only loads into an empty database (flush it first)."


class Command(BaseCommand):
    help = (
        "Load deterministic demo data (same seed, same day: same data) and write a manifest of its users and "
        "their shared password (readable by its owner only)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--manifest", required=True, type=Path, help="Where to write the manifest (JSON).")
        parser.add_argument(
            "--size",
            choices=sorted(SIZES),
            default="small",
            metavar="{small,bench}",
            help="small: two schools, loads in seconds. bench: the benchmark's dataset.",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--password", help="The password of every demo user (default: a random one).")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when the database already has schools.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["manifest"])
        if demo_is_loaded():
            if not options["if_empty"]:
                raise CommandError(NOT_EMPTY)
            self._leave_as_is(path)
            return
        password = options["password"] or secrets.token_urlsafe(12)
        result = demo_seed(spec=SIZES[options["size"]](), seed=options["seed"], password=password, now=timezone.now())
        manifest_write(path=path, manifest=manifest_build(cast=result.cast, password=password))
        for table, count in result.counts.items():
            self.stdout.write(f"  {table}: {count}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the {options['size']} demo (seed {options['seed']}) in {result.seconds:.1f} s. "
                f"Users and their password: {path} (mode 0600)."
            )
        )

    def _leave_as_is(self, path: Path) -> None:
        if path.exists():
            self.stdout.write(f"The database already has schools; keeping it and {path} as they are.")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"The database already has schools but {path} is missing; not reseeding. The demo users' "
                    "password is not recoverable: flush the database and seed again to get a new manifest."
                )
            )
