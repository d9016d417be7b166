"""Replace the shop's data with a deterministic dataset: `seed_shop --scale small`."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from rich.console import Console

from seeding.report import report_table
from seeding.rows import ADMIN_USERNAME
from seeding.scales import SCALES
from seeding.seed import SEED_PASSWORD, seed_shop


class Command(BaseCommand):
    help = (
        "Replace all shop data (users included) with a deterministic dataset. "
        f"Every seeded user, and the staff user {ADMIN_USERNAME!r}, logs in "
        f"with the password {SEED_PASSWORD!r}."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", choices=list(SCALES), default="small")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--no-progress", action="store_true", help="hide the progress bars"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = seed_shop(
            scale=options["scale"],
            seed=options["seed"],
            progress=not options["no_progress"],
        )
        console = Console()
        console.print(report_table(report))
        console.print(f"Log in as {ADMIN_USERNAME!r} with password {SEED_PASSWORD!r}.")
