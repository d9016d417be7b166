"""Measure a lesson's pages before and after its patches; print a Markdown table.

    .venv/bin/python benchmarks/lesson_receipts.py --lesson 1 --scale small

The shop at the start of the lesson (the earlier lessons' patches applied)
and the shop after the lesson's own patches are copied to scratch folders and
measured in turn, each in a child process, on one database seeded at the
chosen scale (`receipts_<scale>`, created and seeded on first use, then
reused). Queries come from the checker's recorder; times are the median of
five requests with memory tracing off; peaks come from one more request
traced with tracemalloc. Every request runs in a transaction rolled back at
the end, so the data stays as seeded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMED_RUNS = 5


def _scenarios(lesson: str) -> list[tuple[str, Callable[[Any], Any]]]:
    """Return the labelled requests or calls that show a lesson's work."""
    from django.db.models import Count, Q

    from catalog.models import Category, Product
    from catalog.selectors import category_product_count
    from customers.models import Customer
    from orders.selectors import customer_has_orders

    product = (
        Product.objects.filter(is_active=True)
        .annotate(approved=Count("reviews", filter=Q(reviews__is_approved=True)))
        .order_by("-approved", "id")
        .first()
    )
    category = (
        Category.objects.annotate(size=Count("products"))
        .order_by("-size", "id")
        .first()
    )
    customer = (
        Customer.objects.annotate(size=Count("orders")).order_by("-size", "id").first()
    )
    if not (product and category and customer):
        raise SystemExit("The receipts database holds no shop data.")

    def get(path: str) -> Callable[[Any], Any]:
        return lambda client: client.get(path)

    pages = {
        "01": [
            ("GET /products/", get("/products/")),
            (f"GET /products/{product.slug}/", get(f"/products/{product.slug}/")),
            ("GET /dashboard/sales/", get("/dashboard/sales/")),
            ("GET /admin/catalog/product/", get("/admin/catalog/product/")),
            ("GET /admin/catalog/review/", get("/admin/catalog/review/")),
            ("GET /admin/orders/order/", get("/admin/orders/order/")),
            ("GET /admin/customers/customer/", get("/admin/customers/customer/")),
        ],
        "02": [
            ("GET /products/", get("/products/")),
            (
                f"GET /customers/{customer.pk}/orders/",
                get(f"/customers/{customer.pk}/orders/"),
            ),
            ("GET /dashboard/sales/", get("/dashboard/sales/")),
            (f"GET /categories/{category.slug}/", get(f"/categories/{category.slug}/")),
        ],
        "03": [
            ("GET /products/", get("/products/")),
            ("GET /exports/order-items.csv", get("/exports/order-items.csv")),
            (
                "customer_has_orders()",
                lambda client: customer_has_orders(customer=customer),
            ),
            (
                "category_product_count()",
                lambda client: category_product_count(category=category),
            ),
        ],
    }
    return pages[lesson]


def measure_shop(lesson: str, shop: Path) -> list[dict[str, Any]]:
    """Measure the lesson's scenarios on the shop in `shop` (run in a child)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import Client
    from django.test.utils import setup_test_environment

    from checker.measure import measure
    from checker.queries import ProjectCode

    setup_test_environment()
    project = ProjectCode(roots=("shop_app",), base=shop)
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    results = []
    for label, call in _scenarios(lesson):
        with transaction.atomic():
            call(client)  # Warm up connections, templates and URL caches.
            times = []
            for _ in range(TIMED_RUNS):
                with measure(label, project=project, memory=False) as timed:
                    call(client)
                times.append(timed.wall_time or 0.0)
            with measure(label, project=project, memory=True) as traced:
                call(client)
            transaction.set_rollback(True)
        similar = timed.similar()
        results.append(
            {
                "label": label,
                "queries": timed.query_count,
                "largest_similar": similar[0].count if similar else 0,
                "description": bool(timed.fetching("catalog_product.description")),
                "ms": statistics.median(times) * 1000,
                "peak_bytes": traced.peak_bytes,
            }
        )
    return results


def _patches(lesson: str) -> tuple[list[str], list[str]]:
    from checker.manifest import load_course

    course = load_course(ROOT)
    earlier = [e.solution for e in course.exercises if e.lesson < lesson]
    own = [e.solution for e in course.exercises if e.lesson == lesson]
    if not own:
        raise SystemExit(f"Lesson {lesson} has no exercises in course.toml.")
    return earlier, own


def _scratch(folder: Path, patches: list[str]) -> Path:
    shutil.copytree(
        ROOT / "shop_app",
        folder / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "media"),
    )
    for patch in patches:
        subprocess.run(
            ["git", "apply", "-p1", str(ROOT / patch)], cwd=folder, check=True
        )
    return folder


def _database(scale: str) -> str:
    """Return the URL of `receipts_<scale>`, migrated and seeded on first use."""
    import psycopg

    from checker.services import create_database, ensure_up

    ensure_up()
    name = f"receipts_{scale}"
    database = create_database(name)
    env = {**os.environ, "DATABASE_URL": database}
    manage = [sys.executable, str(ROOT / "shop_app" / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    marker = database.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(marker) as connection:
        seeded = connection.execute(
            "SELECT obj_description('catalog_product'::regclass)"
        ).fetchone()
    if not seeded or seeded[0] != f"seeded {scale}":
        print(f"Seeding the {scale} data set into {name}...", file=sys.stderr)
        subprocess.run(
            [*manage, "seed_shop", "--scale", scale, "--no-progress"],
            env=env,
            check=True,
            stdout=sys.stderr,
        )
        with psycopg.connect(marker, autocommit=True) as connection:
            connection.execute(f"COMMENT ON TABLE catalog_product IS 'seeded {scale}'")
    return database


def _measure_in_child(lesson: str, shop: Path, database: str) -> list[dict[str, Any]]:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "PYTHONPATH": os.pathsep.join([str(shop / "shop_app"), str(ROOT)]),
        "CACHE_KEY_PREFIX": "receipts",
    }
    command = [sys.executable, __file__, "--measure", lesson, "--shop", str(shop)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return list(json.loads(done.stdout))


def _size(size: int | None) -> str:
    from checker.resources import format_bytes

    return "-" if size is None else format_bytes(size)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def table(naive: list[dict[str, Any]], solved: list[dict[str, Any]]) -> str:
    """Return the Markdown table of both measurements, scenario by scenario.

    "repeated" is the largest group of similar queries: an N+1 shows as a
    group as large as the rows on the page.
    """
    lines = [
        "| scenario | queries | repeated | ms | Python memory peak"
        " | description fetched |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    for before, after in zip(naive, solved, strict=True):
        lines.append(
            f"| `{before['label']}` | {before['queries']} → {after['queries']}"
            f" | {before['largest_similar']} → {after['largest_similar']}"
            f" | {before['ms']:.1f} → {after['ms']:.1f}"
            f" | {_size(before['peak_bytes'])} → {_size(after['peak_bytes'])}"
            f" | {_yes(before['description'])} → {_yes(after['description'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Measure the lesson before and after its patches and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", default="1", help="the lesson number, e.g. 1")
    parser.add_argument("--scale", default="small", help="tiny, small or large")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--shop", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_shop(args.measure, Path(args.shop))))
        return
    lesson = f"{int(args.lesson):02d}"
    earlier, own = _patches(lesson)
    database = _database(args.scale)
    with tempfile.TemporaryDirectory(prefix="receipts-") as folder:
        before = _scratch(Path(folder) / "before", earlier)
        after = _scratch(Path(folder) / "after", earlier + own)
        naive = _measure_in_child(lesson, before, database)
        solved = _measure_in_child(lesson, after, database)
    print(
        f"Lesson {lesson}, `{args.scale}` data set: before = the shop at the start"
        f" of the lesson, after = with its {len(own)} reference patches.\n"
    )
    print(table(naive, solved))


if __name__ == "__main__":
    main()
