"""Measure lesson 7's pages before and after its patches, at a scale; print a table.

    .venv/bin/python benchmarks/lesson7_pages.py --scale small
    .venv/bin/python benchmarks/lesson7_pages.py --scale large

The shop at the start of lesson 7 (every earlier lesson's patches applied)
and the shop with lesson 7's patches too are copied to scratch folders; each
is migrated into a database of its own and filled by the trusted side's
plan-data builder (`checker/trusted/plan_data.py`): `small` is the shop's
small scale (3,000 products, 12,000 orders), `large` holds 10,000 products
with 100,000 reviews and 340,000 orders with 1,020,000 items. A child
process in each shop's own Django requests the product list and, as a staff
user, the sales dashboard: queries and response bytes from the checker's
recorder, the median of five requests' times (this machine's own), and the
page query's plan under EXPLAIN (ANALYZE, BUFFERS).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

# The command's own folder is on sys.path: it runs as a script.
from scratch_shop import REPO, lesson_patches, shop_copy

from checker.services import (
    create_database,
    database_url,
    drop_database,
    ensure_up,
    service_urls,
)
from checker.trusted.plan_data import catalog_fill, orders_fill

LESSON = "07"
SCALES = {"small": (3_000, 12_000), "large": (10_000, 340_000)}
# Each page, and what its page query sorts on.
PAGES = {
    "/products/": r'ORDER BY\s+"catalog_product"\."price"',
    # The search for one product's name: "Product 4711" is active, and no
    # other name below 10,000 products holds 4711.
    "/products/?q=duct+4711": r'ORDER BY\s+"catalog_product"\."price"',
    "/dashboard/sales/": r'ORDER BY\s+"orders_order"\."created_at"\s+DESC',
}
RUNS = 5


def _environment(root: Path, name: str) -> dict[str, str]:
    urls = service_urls()
    return {
        **os.environ,
        "DATABASE_URL": database_url(name),
        "REDIS_URL": urls.redis,
        "CELERY_BROKER_URL": urls.broker,
        "CACHE_KEY_PREFIX": name,
        "PYTHONPATH": str(root / "shop_app"),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "COURSE_ROOT": str(REPO),
    }


def measure_shop(root: Path, name: str, scale: str) -> dict[str, Any]:
    """Migrate and fill a database for the shop at `root`; measure its pages."""
    products, orders = SCALES[scale]
    create_database(name, fresh=True)
    env = _environment(root, name)
    try:
        manage = [sys.executable, str(root / "shop_app" / "manage.py")]
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
        started = time.perf_counter()
        with psycopg.connect(database_url(name, libpq=True), autocommit=True) as db:
            catalog_fill(db, products=products, seed=7)
            orders_fill(db, orders=orders)
        built = time.perf_counter() - started
        child = subprocess.run(
            [sys.executable, __file__, "--child"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return {"built": built, "pages": json.loads(child.stdout)}
    finally:
        drop_database(name)


def _plan(sql: str, params: Any) -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        document = cursor.fetchone()[0]
    top = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    nodes, stack = [], [top]
    while stack:
        node = stack.pop(0)
        nodes.append(node)
        stack.extend(node.get("Plans", []))
    steps = []
    for node in nodes:
        kind = node["Node Type"]
        if "Scan" in kind and node.get("Relation Name", "").startswith(
            ("catalog_product", "orders_order")
        ):
            using = f" using {node['Index Name']}" if node.get("Index Name") else ""
            steps.append(f"{kind}{using} on {node['Relation Name']}")
        elif kind == "Bitmap Index Scan" and steps and "Bitmap Heap" in steps[-1]:
            steps.append(f"{kind} on {node['Index Name']}")
        elif kind in {"Sort", "Incremental Sort"} and not steps:
            keys = ", ".join(key.rpartition(".")[2] for key in node.get("Sort Key", []))
            steps.append(f"{kind} by {keys}")
    buffers = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
    return {"plan": ", ".join(dict.fromkeys(steps)), "buffers": buffers}


def child() -> None:
    """Inside the shop's Django: request each page and print what it cost."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from checker.measure import measure

    staff = get_user_model().objects.create_superuser(
        "bench-staff", "bench@example.com", "x"
    )
    client = Client()
    client.force_login(staff)
    found = {}
    for path, pattern in PAGES.items():
        client.get(path)  # warm: imports, the URLconf, any cache the shop keeps
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        with measure(path, cache=False, tasks=False, memory=False) as measured:
            response = client.get(path)
        page = [q for q in measured.queries if re.search(pattern, q.sql)]
        found[path] = {
            "queries": measured.query_count,
            "bytes": len(response.content),
            "ms": statistics.median(times),
            **(
                _plan(page[0].sql, page[0].params)
                if page
                else {"plan": "", "buffers": 0}
            ),
        }
    print(json.dumps(found))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return 0
    for message in ensure_up():
        print(message, file=sys.stderr)
    earlier, own = lesson_patches(LESSON)
    earlier = [patch for patch in earlier if (REPO / patch).is_file()]
    results = {}
    with tempfile.TemporaryDirectory(prefix="lesson7-pages-") as scratch:
        for which, patches in (("before", earlier), ("after", earlier + own)):
            root = shop_copy(Path(scratch) / which, patches)
            name = f"lesson7_pages_{args.scale}_{which}"
            results[which] = measure_shop(root, name, args.scale)
    products, orders = SCALES[args.scale]
    print(
        f"`{args.scale}`: {products:,} products, {orders:,} orders; "
        '"→" reads before → after; times are this machine\'s own.\n'
    )
    print("| page | queries | bytes | ms (median of 5) | page query's plan | buffers |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for path in PAGES:
        old, new = results["before"]["pages"][path], results["after"]["pages"][path]
        print(
            f"| `GET {path}` | {old['queries']} → {new['queries']} "
            f"| {old['bytes']:,} → {new['bytes']:,} "
            f"| {old['ms']:.1f} → {new['ms']:.1f} "
            f"| {old['plan']} → {new['plan']} "
            f"| {old['buffers']:,} → {new['buffers']:,} |"
        )
    seconds = [results[which]["built"] for which in ("before", "after")]
    print(f"\nData built in {seconds[0]:.1f} s and {seconds[1]:.1f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
