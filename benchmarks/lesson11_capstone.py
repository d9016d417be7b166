"""Grade the capstone before and after its patches; time the traffic on both.

    .venv/bin/python benchmarks/lesson11_capstone.py [--seed N] [--requests N]

The shop at the start of lesson 11 (every earlier lesson's patches applied)
and the shop with lesson 11's patches too are copied to scratch folders and
graded with the trusted tests (`checker/trusted/test_lesson_11.py`) on the
same seed: the same plan-sized catalog and the same replayed traffic. The
figures are the tests' own: queries per brand page, the plan and buffers of
each SKU lookup, the queries and cache hits of a warm brand index.

Then each shop is migrated into a scratch database, filled with the same
plan-sized catalog, served by `manage.py runserver` on a free loopback port
(the test settings: the cache in Redis, no debug toolbar) and sent the mix
of `course traffic`, one request at a time. Its table gives each endpoint's
total and mean time, side by side; the times are this machine's own, and
another run on a busy machine gives others. Then come the statements
pg_stat_statements counted for that database under the traffic, ranked by
shared buffers touched in all (the ranking the chapter teaches and the checker
grades on) and by total time, before and after.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

# The command's own folder is on sys.path: it runs as a script.
from scratch_shop import lesson_grade, lesson_patches, shop_copy, shop_migrate

from checker.course.traffic import EndpointFigures, traffic_plan, traffic_run
from checker.harness.statements import Statement, statements_read, statements_reset
from checker.services import database_url, drop_database, ensure_up, service_urls
from checker.trusted.plan_data import PRODUCTS, catalog_fill

LESSON = "11"
# Statements shown of each ranking.
TOP = 5


def _cell(budget: Any) -> str:
    found = budget.properties
    if "queries" in found:
        return f"{max(found['queries'])} queries at most"
    if "plans" in found:
        return ", ".join(found["plans"])
    if "buffers_per_call" in found:
        return (
            f"{found['buffers_per_call']:,} shared buffers a call, ranked"
            f" {found['rank']} of {found['statements']} by shared buffers"
        )
    if "review_queries" in found:
        return (
            f"queries on catalog_review: {found['review_queries']}, "
            f"cache hits: {found['cache_hits']}"
        )
    return "met" if budget.passed else budget.message.split(" (budget")[0][:120]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _traffic(
    root: Path, name: str, seed: int, requests: int
) -> tuple[list[EndpointFigures], list[Statement]]:
    """Serve the shop at `root` on a filled database; send it the mix.

    Return each endpoint's figures and what pg_stat_statements counted.
    """
    url = shop_migrate(root, name)
    try:
        with psycopg.connect(database_url(name, libpq=True)) as connection:
            connection.autocommit = True
            catalog_fill(connection, products=PRODUCTS, seed=seed)
            role = str(connection.execute("SELECT current_user").fetchone()[0])
            products = connection.execute(
                "SELECT slug, sku FROM catalog_product WHERE is_active ORDER BY id"
            ).fetchall()
            brands = [
                row[0]
                for row in connection.execute(
                    "SELECT slug FROM catalog_brand ORDER BY id"
                ).fetchall()
            ]
        visits = traffic_plan(
            products=products, brands=brands, requests=requests, seed=seed
        )
        port = _free_port()
        server = subprocess.Popen(
            [
                *(sys.executable, "shop_app/manage.py", "runserver"),
                *("--noreload", f"127.0.0.1:{port}"),
            ],
            cwd=root,
            env={
                **os.environ,
                "DATABASE_URL": url,
                "REDIS_URL": service_urls().redis,
                "CACHE_KEY_PREFIX": name,
                "PYTHONPATH": str(root / "shop_app"),
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    httpx.get(f"{base}/no-such-page/", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            statements_reset(role, name)
            figures = traffic_run(base, visits, seconds=600)
            return figures, statements_read(role, name)
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        drop_database(name)


def _times(before: list[EndpointFigures], after: list[EndpointFigures]) -> list[str]:
    new = {found.endpoint: found for found in after}
    lines = [
        "| endpoint | requests | total s before | total s after "
        "| mean ms before | mean ms after | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for old in before:
        fixed = new[old.endpoint]
        count = len(old.seconds)
        lines.append(
            f"| {old.endpoint} | {count} | {old.total:.2f} | {fixed.total:.2f} "
            f"| {old.total / count * 1000:.0f} "
            f"| {fixed.total / len(fixed.seconds) * 1000:.0f} "
            f"| {old.errors + fixed.errors} |"
        )
    return lines


def _ranked(label: str, statements: list[Statement]) -> list[str]:
    lines = [
        f"\n{label}:\n",
        "| calls | shared buffers | a call | rows a call | total ms | statement |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for found in statements[:TOP]:
        calls = max(found.calls, 1)
        lines.append(
            f"| {found.calls:,} | {found.buffers:,} | {found.buffers // calls:,} "
            f"| {found.rows / calls:,.0f} | {found.total_ms:,.0f} "
            f"| `{found.short()}` |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    for message in ensure_up():
        print(message, file=sys.stderr)
    earlier, own = lesson_patches(LESSON)
    with tempfile.TemporaryDirectory(prefix="lesson11-") as scratch:
        start = shop_copy(Path(scratch) / "before", earlier)
        solved = shop_copy(Path(scratch) / "after", earlier + own)
        before = lesson_grade(start, LESSON, args.seed)
        after = lesson_grade(solved, LESSON, args.seed)
        slow, counted_before = _traffic(
            start, "lesson11_before", args.seed, args.requests
        )
        fast, counted_after = _traffic(
            solved, "lesson11_after", args.seed, args.requests
        )
    print("| exercise | budget | before | after |")
    print("| --- | --- | --- | --- |")
    for old, new in zip(before, after, strict=True):
        for a, b in zip(old.budgets, new.budgets, strict=True):
            print(f"| `{old.id}` | `{a.budget}` | {_cell(a)} | {_cell(b)} |")
    print(
        f"\n`course traffic`'s mix, {args.requests} requests one at a time, on "
        f"{PRODUCTS:,} products under runserver (times are this machine's own):\n"
    )
    print("\n".join(_times(slow, fast)))
    by_time = sorted(counted_before, key=lambda found: -found.total_ms)
    for label, statements in (
        ("pg_stat_statements before, by shared buffers", counted_before),
        ("pg_stat_statements before, by total time", by_time),
        ("pg_stat_statements after, by shared buffers", counted_after),
    ):
        print("\n".join(_ranked(label, statements)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
