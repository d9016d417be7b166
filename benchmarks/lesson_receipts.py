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

For lessons 4 and 5 the two shops are measured in three rounds, in turn
(`--rounds`), and each median takes the requests of every round: on a busy
machine, both shops then see the same load.

Lesson 4 measures each page cold and warm (`receipts_cache.py`); lesson 5
measures requests whose slow work a real worker may take over
(`receipts_offload.py`). Mail goes over SMTP to a small server in this
process, for every lesson.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The command's own folder is on sys.path, in the child processes too: they
# run this file as a script.
from receipts_cache import cache_explanation, cache_table, measure_cache
from receipts_offload import (
    mail_note,
    mail_server,
    measure_offload,
    offload_explanation,
    offload_table,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMED_RUNS = 5

# The base settings, with mail sent over SMTP to the benchmark's own server,
# so that sending the welcome email costs a real SMTP conversation; the
# worker of lesson 5 runs on these settings too.
SETTINGS = '''"""Settings of the receipts benchmark: mail goes to its SMTP server."""

import os

from config.settings.base import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("RECEIPTS_SMTP_PORT", "25"))
'''


def _subjects() -> tuple[Any, Any, Any]:
    """Return the product, category and customer with the most rows to show."""
    from django.db.models import Count, Q

    from catalog.models import Category, Product
    from customers.models import Customer

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
    return product, category, customer


def _scenarios(lesson: str) -> list[tuple[str, Callable[[Any], Any]]]:
    """Return the labelled requests or calls that show a lesson's work."""
    from catalog.selectors import category_product_count
    from orders.selectors import customer_has_orders

    product, category, customer = _subjects()

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


def _staff_client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    return client


def measure_shop(lesson: str, shop: Path) -> list[dict[str, Any]]:
    """Measure the lesson's scenarios on the shop in `shop` (run in a child)."""
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_test_environment

    from checker.queries import ProjectCode

    email_backend = settings.EMAIL_BACKEND
    setup_test_environment()
    # The test environment keeps mail in memory; lesson 5 sends it for real.
    settings.EMAIL_BACKEND = email_backend
    project = ProjectCode(roots=("shop_app",), base=shop)
    if lesson in {"04", "05"}:
        product, _, _ = _subjects()
        run = measure_cache if lesson == "04" else measure_offload
        return run(
            project, product=product, staff=_staff_client(), timed_runs=TIMED_RUNS
        )
    return _measure_pages(lesson, project)


def _measure_pages(lesson: str, project: Any) -> list[dict[str, Any]]:
    from django.db import transaction

    from checker.measure import measure

    client = _staff_client()
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
                "samples": {"ms": times},
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
    settings = folder / "shop_app" / "config" / "settings" / "receipts.py"
    settings.write_text(SETTINGS)
    return folder


def _database(name: str, scale: str, shops: list[Path]) -> str:
    """Return the URL of database `name`, seeded at `scale` on first use.

    Each shop in `shops` then migrates it too, for the tables or columns its
    patches add.
    """
    import psycopg

    from checker.services import create_database, ensure_up

    ensure_up()
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
    for shop in shops:
        command = [sys.executable, str(shop / "shop_app" / "manage.py")]
        subprocess.run([*command, "migrate", "-v", "0"], env=env, check=True)
    return database


def _measure_in_child(
    lesson: str, shop: Path, database: str, *, prefix: str, smtp_port: int
) -> list[dict[str, Any]]:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "DJANGO_SETTINGS_MODULE": "config.settings.receipts",
        "PYTHONPATH": os.pathsep.join([str(shop / "shop_app"), str(ROOT)]),
        "CACHE_KEY_PREFIX": prefix,
        "RECEIPTS_TOKEN": prefix,
        "RECEIPTS_SMTP_PORT": str(smtp_port),
        "MEDIA_ROOT": str(shop / "media"),
        # The worker runs the scratch shop; the services stay the course's.
        "COURSE_ROOT": str(shop),
        "COURSE_HOME": os.environ.get("COURSE_HOME", str(ROOT / ".course")),
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


def _merged(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Return the last round's rows, each time the median of every round's samples."""
    rows = []
    for scenario in zip(*rounds, strict=True):
        row = {key: value for key, value in scenario[-1].items() if key != "samples"}
        for key in scenario[-1]["samples"]:
            samples = [value for run in scenario for value in run["samples"][key]]
            row[key] = statistics.median(samples) * 1000 if samples else None
        rows.append(row)
    return rows


def _explain(lesson: str, scale: str, patches: int, rounds: int) -> str:
    shops = (
        f"Lesson {lesson}, `{scale}` data set: before = the shop at the start of"
        f" the lesson, after = with its {patches} reference patches."
    )
    if rounds > 1:
        shops += (
            f" Both shops were measured {rounds} times, in turn, and each median"
            f" takes the {rounds * TIMED_RUNS} requests of all rounds."
        )
    if lesson == "04":
        return f"{shops} {cache_explanation(timed_runs=TIMED_RUNS)}"
    if lesson == "05":
        return f"{shops} {offload_explanation()}"
    return shops


def main() -> None:
    """Measure the lesson before and after its patches and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", default="1", help="the lesson number, e.g. 1")
    parser.add_argument("--scale", default="small", help="tiny, small or large")
    parser.add_argument(
        "--rounds",
        type=int,
        help="measure both shops this many times in turn (default: 3 for"
        " lessons 4 and 5, else 1)",
    )
    parser.add_argument(
        "--database", help="the database to seed and use (default: receipts_<scale>)"
    )
    parser.add_argument("--output", help="also write the table to this file")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--shop", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_shop(args.measure, Path(args.shop))))
        return
    lesson = f"{int(args.lesson):02d}"
    rounds = args.rounds or (3 if lesson in {"04", "05"} else 1)
    earlier, own = _patches(lesson)
    # Every run and shop gets its own cache keys (and usernames), apart from
    # other runs and from anyone else's on the same Redis.
    run = f"{os.environ.get('CACHE_KEY_PREFIX', 'receipts')}-{uuid.uuid4().hex[:8]}"
    measured: dict[str, list[list[dict[str, Any]]]] = {"before": [], "after": []}
    mail_received = dict.fromkeys(measured, 0)
    with tempfile.TemporaryDirectory(prefix="receipts-") as folder:
        shops = {
            "before": _scratch(Path(folder) / "before", earlier),
            "after": _scratch(Path(folder) / "after", earlier + own),
        }
        database = _database(
            args.database or f"receipts_{args.scale}", args.scale, list(shops.values())
        )
        with mail_server() as mail:
            for number, which in itertools.product(range(rounds), shops):
                received = mail.received
                measured[which].append(
                    _measure_in_child(
                        lesson,
                        shops[which],
                        database,
                        prefix=f"{run}-{which}-{number}",
                        smtp_port=mail.server_address[1],
                    )
                )
                mail_received[which] += mail.received - received
        conversations = mail.conversations
    render = {"04": cache_table, "05": offload_table}.get(lesson, table)
    command = shlex.join(
        [".venv/bin/python", "benchmarks/lesson_receipts.py", *sys.argv[1:]]
    )
    text = (
        f"{_explain(lesson, args.scale, len(own), rounds)}\n\n"
        f"{render(_merged(measured['before']), _merged(measured['after']))}\n"
    )
    if lesson == "05":
        text += "\n" + mail_note(mail_received, conversations)
    text += f"\nCommand: `{command}`\n"
    print(text, end="")
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
