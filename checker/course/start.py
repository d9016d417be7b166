"""Bring a fresh checkout to a working shop: services, schema and seed data."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
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


def start(
    *, console: Console, scale: str | None = None, seed_value: int | None = None
) -> None:
    """Start services, migrate, seed once, and say where the learner begins.

    Without `scale` or `seed_value` the data already in the shop is kept,
    whichever set the learner seeded; an empty shop gets the small set, or
    the set recorded in `.course/seed.json` when a PostgreSQL upgrade
    replaced the cluster that held it.
    """
    layout = Layout.default()
    for message in ensure_up(layout, upgrade=True):
        console.print(f"[green]✓[/] {message}")
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    console.print("[green]✓[/] Database schema is up to date.")
    _bring_data(console, layout, scale, seed_value)
    console.print(
        "\n[bold]Ready.[/] Run the shop with "
        "`python shop_app/manage.py runserver` and open\n"
        "http://127.0.0.1:8000/products/ with the debug toolbar's SQL panel.\n"
    )
    _say_activate(console)
    _first_check(console)


def _say_activate(console: Console) -> None:
    """Say once how to make `course` and `python` the virtualenv's, if needed."""
    folder = Path(sys.executable).parent
    found = shutil.which("course")
    if found is not None and Path(found).parent == folder:
        return
    activate = folder / "activate"
    shown = os.path.relpath(activate) if activate.exists() else f"{folder}/activate"
    console.print(
        f"[yellow]In each new shell, run `source {shown}` first:[/] `course` and"
        " `python` are in the virtualenv, and every command the course prints"
        " works as printed once it is active.\n"
    )


def _bring_data(
    console: Console, layout: Layout, scale: str | None, seed_value: int | None
) -> None:
    """Seed what was asked for, or the small set into an empty shop; else keep."""
    seeded = SeedState.load(layout.home / "seed.json")
    if seeded is not None and seeded.database != _database_label():
        seeded = None
    present = _has_products()
    if scale is None and seed_value is None and present:
        held = f"the {seeded.scale} data set" if seeded else "the data it holds"
        console.print(
            f"[green]✓[/] The shop keeps {held}; `course seed --scale"
            " tiny|small|large` replaces it."
        )
        return
    wanted = SeedState(
        scale or (seeded.scale if seeded else DEFAULT_SCALE),
        seed_value if seed_value is not None else (seeded.seed if seeded else 0),
        _database_label(),
    )
    if present and seeded == wanted:
        console.print(
            f"[green]✓[/] The shop already holds the {wanted.scale} data set."
        )
        return
    seed(scale=wanted.scale, seed=wanted.seed, console=console, layout=layout)
    console.print(f"[green]✓[/] Seeded the {wanted.scale} data set.")


def _first_check(console: Console) -> None:
    """Check the next unfinished exercise once, then show where to begin."""
    from checker.course.check import overview, progress_of, run_checks
    from checker.course.manifest import load_course

    course = load_course()
    progress = progress_of(course)
    pending = [e for e in course.exercises if e.id not in progress.entries]
    if pending and not any(
        entry.status != "passed" for entry in progress.entries.values()
    ):
        console.print(f"Checking {pending[0].id}, the first exercise...")
        run_checks(course, [pending[0]], console)
    overview(argparse.Namespace(), console)


def services_command(args: argparse.Namespace, console: Console) -> int:
    """Start, stop or report the embedded PostgreSQL and Redis."""
    from rich.table import Table

    from checker.services import service_urls, services_down, services_status

    if args.action == "status":
        table = Table("service", "state", "pid", "address", "note")
        for status in services_status():
            state = "[green]running[/]" if status.running else "[red]stopped[/]"
            table.add_row(
                status.name,
                state,
                str(status.pid or "-"),
                status.address,
                status.note,
            )
        urls = service_urls()
        if urls.external_database:
            table.add_row("PostgreSQL", "external", "-", "DATABASE_URL", "")
        if urls.external_redis:
            table.add_row("Redis", "external", "-", "REDIS_URL", "")
        console.print(table)
        console.print(f"Celery broker: {urls.broker}")
        return 0
    messages = ensure_up() if args.action == "up" else services_down()
    for message in messages:
        console.print(message)
    if not messages:
        console.print(f"Nothing to do: services already {args.action}.")
    return 0


def seed_command(args: argparse.Namespace, console: Console) -> int:
    """Replace the shop's data with a generated data set."""
    for message in ensure_up():
        console.print(message)
    setup_django()
    seed(scale=args.scale, seed=args.seed, console=console, layout=Layout.default())
    return 0


def start_command(args: argparse.Namespace, console: Console) -> int:
    """Bring the checkout to a working shop and show where to begin."""
    start(console=console, scale=args.scale, seed_value=args.seed)
    return 0
