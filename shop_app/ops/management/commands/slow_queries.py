"""Print the statements PostgreSQL spends the most time on: `slow_queries`."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Print the statements of this database with the most total time: calls,"
        " total ms, mean ms, rows and the statement, one per line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=10)

    def handle(self, *args: Any, **options: Any) -> None:
        # TODO(lesson 10): read pg_stat_statements, the most total time first.
        self.stdout.write("No statement statistics read yet.")
