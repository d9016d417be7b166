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

Lesson 4 measures each page cold (its cache keys just deleted) and warm (the
same request again), five times each; each child runs under a cache key
prefix of its own, emptied before every cold request and at the end
(`delete_pattern`, never a flush: other people share the Redis).

Lesson 5 measures requests that do slow work, and commits them: tasks are
published on commit, and a real worker (`checker.worker.CeleryWorker`, on the
course's broker) must find the rows. Each shop's child runs one worker on a
queue of its own, which gets every task the shop publishes (the queue the
shop's settings chose is reported beside it); every task is drained before
the next request. Mail goes over SMTP to a small server in this process. The
rows and files the requests created are deleted at the end.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import shlex
import shutil
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMED_RUNS = 5
# Generous: the worker builds the whole sales report or a thumbnail of a
# large image, on a shared machine.
DRAIN_TIMEOUT = 120.0
IMAGE_SIZE = (3000, 2000)

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
    if lesson == "04":
        return _measure_cache(project)
    if lesson == "05":
        return _measure_offload(project)
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


def _own_keys_delete() -> None:
    from django.core.cache import cache

    # django-redis puts KEY_PREFIX before the pattern: only this shop's keys
    # go, never those of anyone else on the same Redis.
    cache.delete_pattern("*")  # type: ignore[attr-defined]


def _summary(runs: list[Any]) -> dict[str, Any]:
    """Return the median query count of `runs`, and the last one's cache use."""
    return {
        "queries": round(statistics.median(run.query_count for run in runs)),
        "hits": runs[-1].cache.hits if runs[-1].cache else 0,
        "misses": runs[-1].cache.misses if runs[-1].cache else 0,
    }


def _measure_cache(project: Any) -> list[dict[str, Any]]:
    from django.db import transaction
    from django.test import Client

    from checker.measure import measure

    product, _, _ = _subjects()
    # The product page is cached for visitors, who are not logged in; the
    # dashboard is for staff only.
    visitor, staff = Client(), _staff_client()
    scenarios = [
        (f"GET /products/{product.slug}/", visitor, f"/products/{product.slug}/"),
        ("GET /products/", visitor, "/products/"),
        ("GET /dashboard/sales/", staff, "/dashboard/sales/"),
    ]
    results = []
    for label, client, path in scenarios:
        with transaction.atomic():
            client.get(path)  # Warm up connections, templates and URL caches.
            cold: list[Any] = []
            warm: list[Any] = []
            for _ in range(TIMED_RUNS):
                _own_keys_delete()
                for runs in (cold, warm):
                    with measure(
                        label, project=project, memory=False, cross_check=False
                    ) as timed:
                        client.get(path)
                    runs.append(timed)
            transaction.set_rollback(True)
        results.append(
            {
                "label": label,
                "cold": _summary(cold),
                "warm": _summary(warm),
                "samples": {
                    "cold_ms": [run.wall_time or 0.0 for run in cold],
                    "warm_ms": [run.wall_time or 0.0 for run in warm],
                },
            }
        )
    _own_keys_delete()
    return results


def _jpeg() -> bytes:
    """Return a photo-sized JPEG of IMAGE_SIZE, the same bytes every run."""
    import random

    from PIL import Image

    width, height = IMAGE_SIZE
    detail = Image.effect_mandelbrot(IMAGE_SIZE, (-2.2, -1.1, 1.0, 1.1), 64)
    ramp = Image.linear_gradient("L").resize(IMAGE_SIZE)
    # Grain, as a camera's sensor leaves it, keeps the file photo-sized.
    grain = Image.frombytes("L", IMAGE_SIZE, random.Random(0).randbytes(width * height))
    channels = [
        Image.blend(layer, grain, 0.2) for layer in (detail, ramp, ramp.rotate(180))
    ]
    buffer = io.BytesIO()
    Image.merge("RGB", channels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _offload_scenarios() -> list[tuple[str, Callable[[int], Any]]]:
    """Return the labelled requests of lesson 5; each takes its run number."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    product, _, _ = _subjects()
    staff = _staff_client()
    image = _jpeg()
    token = os.environ["RECEIPTS_TOKEN"]

    def signup(run: int) -> Any:
        # A new visitor each time: the signup logs the new account in.
        name = f"{token}-{run}"
        return Client().post(
            "/signup/",
            {"username": name, "email": f"{name}@example.com",
             "password": "a long enough password", "city": "Lisbon"},
        )  # fmt: skip

    def report(run: int) -> Any:
        return staff.post("/dashboard/sales/report/")

    def upload(run: int) -> Any:
        upload = SimpleUploadedFile("photo.jpg", image, content_type="image/jpeg")
        return staff.post(f"/products/{product.slug}/images/upload/", {"image": upload})

    return [
        ("POST /signup/", signup),
        ("POST /dashboard/sales/report/", report),
        ("POST /products/<slug>/images/upload/", upload),
    ]


@contextmanager
def _worker() -> Iterator[Any]:
    """Run a real worker on a queue of its own, and send every task there."""
    from celery import current_app
    from django.conf import settings
    from django.db import connection

    from checker.worker import CeleryWorker, database_url

    worker = CeleryWorker(
        broker_url=settings.CELERY_BROKER_URL,
        outcomes_url=settings.SERVICES.redis,
        database_url=database_url(connection.settings_dict),
        settings_module=os.environ["DJANGO_SETTINGS_MODULE"],
    )
    # Keep the shop's own routes to report which queue each task was meant
    # for; the router is built once and cached, so rebuild it.
    configured = current_app.amqp.Router()
    current_app.conf.task_routes = {"*": {"queue": worker.queue}}
    current_app.amqp.flush_routes()
    vars(current_app.amqp).pop("router", None)
    worker.start()
    try:
        yield worker, configured
    finally:
        worker.stop()


def _offload_runs(
    label: str, call: Callable[[int], Any], worker: Any, configured: Any, project: Any
) -> dict[str, Any]:
    """Time the request `call` makes, then wait for the worker to do its tasks."""
    from checker.measure import measure

    times: list[float] = []
    worker_times: list[float] = []
    drained: list[float] = []
    states: set[str] = set()
    for run in range(TIMED_RUNS + 1):
        # After lesson 4 the sales report reads cached sales: start every run
        # with no keys, so that the report is built every time.
        _own_keys_delete()
        with measure(label, project=project, memory=False, cross_check=False) as timed:
            response = call(run)
        answered = time.perf_counter()
        report = worker.drain(timed.tasks, timeout=DRAIN_TIMEOUT)
        waited = time.perf_counter() - answered
        failed = [o for o in report.outcomes if o.state != "succeeded"]
        if response.status_code >= 400 or failed or not report.drained:
            raise SystemExit(
                f"{label} answered {response.status_code}; the worker reported"
                f" {report.to_dict()}"
            )
        if run == 0:
            continue  # Warm up connections, templates and URL caches.
        times.append(timed.wall_time or 0.0)
        if report.outcomes:
            drained.append(waited)
            worker_times.append(sum(outcome.runtime for outcome in report.outcomes))
            states.update(outcome.state for outcome in report.outcomes)
    published = []
    for task in timed.tasks.published if timed.tasks else []:
        queue = configured.route({}, task.name)["queue"].name
        published.append(f"{task.name.rsplit('.', 1)[-1]} ({queue})")
    return {
        "label": label,
        "status": response.status_code,
        "queries": timed.query_count,
        "published": published,
        "states": sorted(states),
        "samples": {"ms": times, "worker_ms": worker_times, "drained_ms": drained},
    }


def _measure_offload(project: Any) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model

    from catalog.models import ProductImage

    newest = ProductImage.objects.order_by("-pk").values_list("pk", flat=True).first()
    try:
        with _worker() as (worker, configured):
            return [
                _offload_runs(label, call, worker, configured, project)
                for label, call in _offload_scenarios()
            ]
    finally:
        get_user_model().objects.filter(
            username__startswith=os.environ["RECEIPTS_TOKEN"]
        ).delete()
        ProductImage.objects.filter(pk__gt=newest or 0).delete()
        _own_keys_delete()


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


class _MailSink(socketserver.StreamRequestHandler):
    """Take mail the way an SMTP server does, count it and drop it."""

    server: _MailServer

    def handle(self) -> None:
        start = time.perf_counter()
        try:
            self._converse()
        finally:
            self.server.conversations.append(time.perf_counter() - start)

    def _converse(self) -> None:
        self.wfile.write(b"220 receipts ESMTP\r\n")
        in_data = False
        for line in self.rfile:
            if in_data:
                if line.rstrip(b"\r\n") == b".":
                    in_data = False
                    self.server.received += 1
                    self.wfile.write(b"250 OK\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                in_data = True
                self.wfile.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 Bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


class _MailServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _MailSink)
        # How many messages it has taken, and how long each connection took.
        self.received = 0
        self.conversations: list[float] = []


@contextmanager
def _mail_server() -> Iterator[_MailServer]:
    """Run an SMTP server on a free local port in a thread of this process."""
    server = _MailServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


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


def cache_table(naive: list[dict[str, Any]], solved: list[dict[str, Any]]) -> str:
    """Return the Markdown table of cold and warm requests, before and after.

    Here "→" reads "cold → warm": the first request after the keys were
    deleted, then the same request again.
    """
    lines = [
        "| scenario | shop | queries | ms | cache hits / misses |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for before, after in zip(naive, solved, strict=True):
        for shop, row in (("before", before), ("after", after)):
            cold, warm = row["cold"], row["warm"]
            label = f"`{row['label']}`" if shop == "before" else ""
            lines.append(
                f"| {label} | {shop} | {cold['queries']} → {warm['queries']}"
                f" | {row['cold_ms']:.1f} → {row['warm_ms']:.1f}"
                f" | {cold['hits']} / {cold['misses']}"
                f" → {warm['hits']} / {warm['misses']} |"
            )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def offload_table(naive: list[dict[str, Any]], solved: list[dict[str, Any]]) -> str:
    """Return the Markdown table of requests with their work inline or offloaded.

    The worker columns are the task's own run time as the worker measured
    it, and the time from the response until the worker reported it done
    (picked up from the broker, run, reported; read every 20 ms or so).
    """
    lines = [
        "| scenario | status | request ms | queries | tasks published (queue)"
        " | worker ms | done ms after the response |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for before, after in zip(naive, solved, strict=True):
        published = [", ".join(row["published"]) or "none" for row in (before, after)]
        lines.append(
            f"| `{before['label']}` | {before['status']} → {after['status']}"
            f" | {before['ms']:.1f} → {after['ms']:.1f}"
            f" | {before['queries']} → {after['queries']}"
            f" | {published[0]} → {published[1]}"
            f" | {_ms(before['worker_ms'])} → {_ms(after['worker_ms'])}"
            f" | {_ms(before['drained_ms'])} → {_ms(after['drained_ms'])} |"
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
        return (
            f"{shops} Each page is requested cold (its cache keys just deleted),"
            f" then warm (the same request again), {TIMED_RUNS} times a round;"
            " queries are medians, hits and misses those of the last pair. Here"
            ' "→" reads "cold → warm".'
        )
    if lesson == "05":
        return (
            f"{shops} Every request is committed, and a real worker on the"
            " course's broker drained its tasks before the next request. The"
            f" upload is a {IMAGE_SIZE[0]}\N{MULTIPLICATION SIGN}{IMAGE_SIZE[1]}"
            f' JPEG of {len(_jpeg()) / 2**20:.1f} MiB. "→" reads "before → after".'
        )
    return shops


def _mail_note(received: dict[str, int], conversations: list[float]) -> str:
    note = (
        f"The mail server received {received['before']} emails from the shop"
        f" before and {received['after']} after (warm-up requests included)."
    )
    if conversations:
        note += (
            " A whole SMTP conversation, as the server timed it, took"
            f" {statistics.median(conversations) * 1000:.1f} ms (median of"
            f" {len(conversations)}): inline, the signup waits about that long for it."
        )
    return note + "\n"


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
        with _mail_server() as mail:
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
        text += "\n" + _mail_note(mail_received, conversations)
    text += f"\nCommand: `{command}`\n"
    print(text, end="")
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
