"""Bring a fresh checkout to a working shop: services, schema and seed data."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from checker.django_env import setup_django
from checker.services import ensure_up
from checker.services.layout import Layout

DEFAULT_SCALE = "small"


@dataclass(frozen=True)
class SeedState:
    """What `course start` last seeded, kept in `.course/seed.json`."""

    scale: str
    seed: int
    database: str

    @classmethod
    def load(cls, path: Path) -> SeedState | None:
        try:
            data = json.loads(path.read_text())
            return cls(str(data["scale"]), int(data["seed"]), str(data["database"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")


def _database_label() -> str:
    from django.db import connection

    params = connection.get_connection_params()
    return f"{params.get('host') or 'socket'}/{connection.settings_dict['NAME']}"


def _has_products() -> bool:
    from catalog.models import Product

    return Product.objects.exists()


def seed(*, scale: str, seed: int, console: Console, layout: Layout) -> None:
    """Seed the shop and remember it, so `course start` can skip the next time."""
    from django.core.management import call_command

    call_command("seed_shop", scale=scale, seed=seed)
    SeedState(scale, seed, _database_label()).save(layout.home / "seed.json")


def start(*, console: Console, scale: str = DEFAULT_SCALE, seed_value: int = 0) -> None:
    """Start services, migrate, seed once, and say where the learner begins."""
    layout = Layout.default()
    for message in ensure_up(layout):
        console.print(f"[green]✓[/] {message}")
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    console.print("[green]✓[/] Database schema is up to date.")
    wanted = SeedState(scale, seed_value, _database_label())
    if SeedState.load(layout.home / "seed.json") == wanted and _has_products():
        console.print(f"[green]✓[/] The shop already holds the {scale} data set.")
    else:
        seed(scale=scale, seed=seed_value, console=console, layout=layout)
        console.print(f"[green]✓[/] Seeded the {scale} data set.")
    console.print(
        "\n[bold]Ready.[/] Run the shop with "
        "`.venv/bin/python shop_app/manage.py runserver` and open\n"
        "http://127.0.0.1:8000/products/ with the debug toolbar's SQL panel.\n"
    )
    _first_check(console)


def _first_check(console: Console) -> None:
    """Check the next unfinished exercise once, then show where to begin."""
    from checker.learner import overview, progress_of, run_checks
    from checker.manifest import load_course

    course = load_course()
    progress = progress_of(course)
    pending = [e for e in course.exercises if e.id not in progress.entries]
    if pending and not any(
        entry.status != "passed" for entry in progress.entries.values()
    ):
        console.print(f"Checking {pending[0].id}, the first exercise...")
        run_checks(course, [pending[0]], console)
    overview(argparse.Namespace(), console)
