"""Time the plan-sized data lesson 7 builds per submission, four ways, side by side.

    .venv/bin/python benchmarks/lesson7_fill.py [--seed N] [--rounds N]

The shop at the start of lesson 7 (every earlier lesson's patches applied)
and the shop with lesson 7's patches too are each migrated into a scratch
database (`lesson7_fill`, and `lesson7_fill_staging` for the copy). Each
round fills it as one submission's trusted run does (`test_lesson_07.py`):
the catalog at the seed's size and then twice it, emptied, the orders at the
seed's size and then twice it, each fill followed by `VACUUM (ANALYZE)`:

- row by row: `plan_data` with each inserted row's foreign keys checked as
  it goes in (the fill before its keys were checked once);
- keys once: `plan_data` as the trusted tests run it, the foreign keys of
  the tables it writes dropped and added again around the insert;
- COPY: the same number of rows copied with binary `COPY` from a database
  built once, in one transaction, keys checked row by row, then analyzed;
- template: `CREATE DATABASE ... TEMPLATE` of a database built once per run
  with the schema at the start of lesson 7 and the rows at the larger size,
  then the shop's own migrations run on the copy (for the solved shop they
  build its lesson 7 indexes over the rows), and, beside them, a `migrate`
  of an empty database, which every run does today. Each `migrate` is a
  process of its own, Django's start included.

A run pays today one `migrate` of an empty database and the fills ("keys
once"); with one copy per run it would pay the copy and the `migrate` of
the copy; the trusted tests measure at two sizes, which would take two.

The ways run in turn in each round, so a busy machine slows each
alike; the table shows the median and the range over the rounds, in
seconds on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

# The command's own folder is on sys.path: it runs as a script.
from scratch_shop import lesson_patches, shop_copy, shop_migrate

from checker.services import create_database, database_url, drop_database, ensure_up
from checker.trusted.plan_data import (
    TABLES,
    catalog_fill,
    orders_fill,
    plan_sizes,
    tables_analyze,
)

LESSON = "07"
DATABASE = "lesson7_fill"
STAGING = "lesson7_fill_staging"
# The plan data at the larger size, built once with the schema at lesson 7's start.
TEMPLATE = "lesson7_fill_template"
COPY = "lesson7_fill_copy"
EMPTY = "lesson7_fill_empty"


def _migrated(root: Path, name: str) -> psycopg.Connection[Any]:
    shop_migrate(root, name)
    return psycopg.connect(database_url(name, libpq=True), autocommit=True)


def _empty(connection: Any) -> None:
    connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


def _generated(connection: Any, seed: int, *, keys_once: bool) -> float:
    """Fill as one submission's run does; return the seconds the fills took."""
    first = plan_sizes(seed)
    _empty(connection)
    seconds = 0.0
    for size in (first, first.doubled()):
        seconds += catalog_fill(
            connection, products=size.products, seed=seed, keys_once=keys_once
        ).seconds
    _empty(connection)
    for size in (first, first.doubled()):
        seconds += orders_fill(
            connection, orders=size.orders, keys_once=keys_once
        ).seconds
    return seconds


def _staged(staging: Any, seed: int) -> None:
    """Build, once, as many rows as a submission's run ends with."""
    doubled = plan_sizes(seed).doubled()
    _empty(staging)
    catalog_fill(staging, products=doubled.products, seed=seed)
    orders_fill(staging, orders=doubled.orders)


def _copied(connection: Any, staging: Any) -> float:
    """Copy the staged rows into the emptied database; return the seconds."""
    _empty(connection)
    started = time.perf_counter()
    with connection.transaction():
        for table in TABLES:
            columns = ", ".join(
                f'"{name}"'
                for (name,) in staging.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass"
                    " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    [table],
                ).fetchall()
            )
            with (
                staging.cursor().copy(
                    f"COPY (SELECT {columns} FROM {table} ORDER BY id)"
                    " TO STDOUT (FORMAT binary)"
                ) as source,
                connection.cursor().copy(
                    f"COPY {table} ({columns}) FROM STDIN (FORMAT binary)"
                ) as target,
            ):
                for chunk in source:
                    target.write(chunk)
    tables_analyze(connection, *TABLES)
    return time.perf_counter() - started


def _template(root: Path, seed: int) -> None:
    """Build, once, a database of the lesson's start holding the larger size."""
    doubled = plan_sizes(seed).doubled()
    with _migrated(root, TEMPLATE) as connection:
        catalog_fill(connection, products=doubled.products, seed=seed)
        orders_fill(connection, orders=doubled.orders)


def _migrate_seconds(root: Path, name: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "shop_app/manage.py", "migrate", "-v", "0"],
        cwd=root,
        env={
            **os.environ,
            "DATABASE_URL": database_url(name),
            "PYTHONPATH": str(root / "shop_app"),
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
        },
        check=True,
    )
    return time.perf_counter() - started


def _copied_from_template() -> float:
    """Copy the larger size's template; return the seconds the copy took."""
    drop_database(COPY)
    with psycopg.connect(database_url("postgres", libpq=True)) as server:
        server.autocommit = True
        started = time.perf_counter()
        server.execute(f"CREATE DATABASE {COPY} TEMPLATE {TEMPLATE}")
        return time.perf_counter() - started


def _empty_migrated(root: Path) -> float:
    create_database(EMPTY, fresh=True)
    try:
        return _migrate_seconds(root, EMPTY)
    finally:
        drop_database(EMPTY)


def _cell(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.2f} ({min(seconds):.2f}-{max(seconds):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for message in ensure_up():
        print(message, file=sys.stderr)
    earlier, own = lesson_patches(LESSON)
    sizes = plan_sizes(args.seed)
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lesson7-fill-") as scratch:
        start = shop_copy(Path(scratch) / "template", earlier)
        _template(start, args.seed)
        for label, patches in (
            ("start of lesson 7", earlier),
            ("lesson 7 solved", earlier + own),
        ):
            root = shop_copy(Path(scratch) / label.replace(" ", "-"), patches)
            try:
                with (
                    _migrated(root, DATABASE) as connection,
                    _migrated(root, STAGING) as staging,
                ):
                    _staged(staging, args.seed)
                    ways: dict[str, Callable[[], float]] = {
                        "row by row": lambda: _generated(
                            connection, args.seed, keys_once=False
                        ),
                        "keys once": lambda: _generated(
                            connection, args.seed, keys_once=True
                        ),
                        "COPY": lambda: _copied(connection, staging),
                        "copy": _copied_from_template,
                        "migrate the copy": lambda root=root: _migrate_seconds(
                            root, COPY
                        ),
                        "migrate empty": lambda root=root: _empty_migrated(root),
                    }
                    taken: dict[str, list[float]] = {way: [] for way in ways}
                    for _ in range(args.rounds):
                        for way, run in ways.items():
                            taken[way].append(run())
                rows.append(
                    f"| {label} | "
                    + " | ".join(_cell(taken[way]) for way in ways)
                    + " |"
                )
            finally:
                drop_database(DATABASE)
                drop_database(STAGING)
        for name in (TEMPLATE, COPY):
            drop_database(name)
    print(
        f"Seconds per submission for lesson 7's plan-sized data, seed {args.seed}: "
        f"{sizes.products:,} then {sizes.doubled().products:,} products, "
        f"{sizes.orders:,} then {sizes.doubled().orders:,} orders; median "
        f"(range) of {args.rounds} rounds on this machine.\n"
    )
    print(
        "| shop | row by row | keys once | COPY from a database built once |"
        " template copy | `migrate` of the copy | `migrate` of an empty database |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
