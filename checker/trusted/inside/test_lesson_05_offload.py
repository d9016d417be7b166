"""Trusted tests of lesson 5: the sales report and the thumbnails, in a worker.

The tests that need a worker start real ones (`course_worker_factory`) on the
test database, so they commit their rows (`transaction=True`). The others
send what they publish to a queue of their own that no worker consumes,
dropped at the end, so that a shop's worker on the same broker never gets it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.conf import settings
from django.core.files.storage import Storage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image

from catalog.models import Product, ProductImage
from catalog.tasks import make_thumbnail
from checker.budgets import assert_within, check_all
from checker.budgets.tasks import (
    drained_by_worker,
    task_offloaded,
    task_published_on_commit,
)
from checker.harness.shop_data import (
    catalog_make,
    customers_make,
    orders_make,
    staff_make,
)
from checker.measure import Measurement
from checker.trusted.measuring import measured, shop_code
from checker.trusted.queues import queue_aside, task_site
from checker.worker import PAUSE_ENV, VISIBILITY_TIMEOUT_ENV, CeleryWorker
from orders.models import Order, OrderItem
from orders.services import REPORT_HEADER
from orders.tasks import build_sales_report

REPORT = "/dashboard/sales/report/"
REPORT_TASK = "build_sales_report"
THUMBNAIL_TASK = "make_thumbnail"
IMAGES_QUEUE = "images"
THUMBNAIL_MAX = (200, 200)
PAID = (Order.Status.PAID, Order.Status.SHIPPED)
# Long enough for a worker to start and run one small task on a busy machine.
DRAIN_SECONDS = 30
# How long a worker that was handed a lost message may take to run it: the
# broker hands it back within a second or two (visibility timeout below).
REDELIVERY_SECONDS = 20

WorkerFactory = Callable[..., CeleryWorker]


# --- where the shop does its work -------------------------------------------


def _chain(frame: Any) -> str:
    """Return the shop's frames of a stack, outermost first, as `file:line`s."""
    places = shop_code().lines_on_stack(frame)
    return " → ".join(reversed(places))


@dataclass
class WorkHere:
    """The files the shop wrote and its first query, in the test's process."""

    writes: list[tuple[str, str]] = field(default_factory=list)
    first_query: str = ""


@contextlib.contextmanager
def _work_here() -> Iterator[WorkHere]:
    """Record each file saved to storage, and where the first query came from."""
    here = WorkHere()
    original = Storage.save

    def save(storage: Storage, name: str | None, *args: Any, **kwargs: Any) -> str:
        saved = original(storage, name, *args, **kwargs)
        here.writes.append((saved, _chain(sys._getframe(1))))
        return saved

    def first_query(execute: Any, sql: str, *args: Any) -> Any:
        if not here.first_query:
            here.first_query = _chain(sys._getframe(1))
        return execute(sql, *args)

    Storage.save = save  # type: ignore[method-assign,assignment]
    try:
        with connection.execute_wrapper(first_query):
            yield here
    finally:
        Storage.save = original  # type: ignore[method-assign]


# --- where the shop's tasks go --------------------------------------------------


@contextlib.contextmanager
def _routed_to(queue: str) -> Iterator[dict[str, str]]:
    """Send every task published in the block to `queue`; record its own route.

    The recorded queue is the one the shop's settings chose (a task route,
    the task's `queue` option, or the default queue).
    """
    router: Any = current_app.amqp.router
    original = router.route
    routes: dict[str, str] = {}

    def route(options: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        routed = original(options, name, *args, **kwargs)
        chosen = routed.get("queue")
        routes[name] = getattr(chosen, "name", None) or str(
            chosen or current_app.conf.task_default_queue
        )
        routed.pop("exchange", None)
        routed.pop("routing_key", None)
        routed["queue"] = current_app.amqp.queues[queue]
        return routed

    router.route = route
    try:
        yield routes
    finally:
        router.route = original


@pytest.fixture
def aside() -> Iterator[str]:
    """Return a queue no worker consumes; remove it and its messages after."""
    with queue_aside() as name:
        yield name


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    """Point MEDIA_ROOT at a fresh directory, shared with the workers started."""
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def staff_client(client: Any) -> Any:
    client.force_login(staff_make())
    return client


def _worker_environment(media: Path, **extra: str) -> dict[str, str]:
    return {"MEDIA_ROOT": str(media), **extra}


# --- the sales report -------------------------------------------------------


def _by_name(measurement: Measurement, name: str) -> tuple[list[Any], list[Any]]:
    tasks: Any = measurement.tasks
    return (
        [t for t in tasks.published if t.name.rsplit(".", 1)[-1] == name],
        [t for t in tasks.inline if t.name.rsplit(".", 1)[-1] == name],
    )


def _built_here(label: str, measurement: Measurement, here: WorkHere) -> str:
    queries = [q for q in measurement.statements if q.origin is not None]
    written = ", ".join(name for name, _ in here.writes) or "no file"
    lead = "from" if len(queries) == 1 else "the first from"
    first = f", {lead} {here.first_query}" if here.first_query else ""
    site = here.writes[0][1] if here.writes else ""
    count = f"{len(queries)} {'query' if len(queries) == 1 else 'queries'}"
    return (
        f"{label} built the report inside the request: {count}"
        f"{first}; wrote {written}"
        + (f" from {site}" if site and not first else "")
        + f". Expected {REPORT_TASK} published to a worker and a 202 answer."
        f" Call `{REPORT_TASK}.delay()` in the view and answer"
        ' JsonResponse({"task_id": ..., "status_url": ...}, status=202).'
    )


def _report_started(client: Any) -> tuple[str, str]:
    """POST the report request; return the task id and the status URL.

    Fail, naming where the work was done, unless the view published the task,
    built nothing itself and answered 202 with both.
    """
    label = f"POST {REPORT}"
    with _work_here() as here, measured(label) as measurement:
        response = client.post(REPORT)
    published, inline = _by_name(measurement, REPORT_TASK)
    if here.writes and not inline:
        raise AssertionError(_built_here(label, measurement, here))
    assert_within(measurement, task_offloaded(REPORT_TASK))
    task_id = published[0].id
    try:
        answer = json.loads(response.content)
    except ValueError:
        answer = None
    status_url = answer.get("status_url") if isinstance(answer, dict) else None
    if response.status_code != 202 or not isinstance(answer, dict):
        raise AssertionError(
            f"{label} published {REPORT_TASK} but answered {response.status_code}"
            f" {response.get('Content-Type', '')}; expected 202 with JSON"
            f' {{"task_id": "{task_id}", "status_url": "..."}}. Return'
            " JsonResponse(..., status=202)."
        )
    if answer.get("task_id") != task_id or not status_url:
        raise AssertionError(
            f"{label} answered {answer!r}; expected the published task's id"
            f' ("task_id": "{task_id}") and "status_url", the URL of the page'
            " that tells the task's state."
        )
    return task_id, str(status_url)


@pytest.mark.exercise("05-sales-report", budget="offloaded")
@pytest.mark.django_db
def test_the_report_request_publishes_the_task_and_answers_202(
    staff_client: Any, media: Path, aside: str
) -> None:
    orders_make(orders=12, customers=customers_make(3))

    with _routed_to(aside):
        _report_started(staff_client)


def _progress_states(task_id: str) -> Any:
    """Subscribe to the result backend's updates of one task."""
    backend: Any = current_app.backend
    client = getattr(backend, "client", None)
    if client is None or not hasattr(backend, "get_key_for_task"):
        raise AssertionError(
            f"The result backend is {type(backend).__name__}: no task state is"
            " stored, so no page can tell the report's progress. Set"
            " CELERY_RESULT_BACKEND = SERVICES.results in"
            " shop_app/config/settings/base.py."
        )
    subscription = client.pubsub()
    subscription.subscribe(backend.get_key_for_task(task_id))
    return subscription


def _states_seen(subscription: Any) -> list[str]:
    backend: Any = current_app.backend
    states: list[str] = []
    while (message := subscription.get_message(timeout=0.2)) is not None:
        if message["type"] == "message":
            states.append(str(backend.decode_result(message["data"])["status"]))
    subscription.close()
    return states


def _report_rows_expected() -> list[tuple[int, int, Decimal]]:
    sold: dict[int, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for item in OrderItem.objects.filter(order__status__in=PAID):
        sold[item.product_id][0] += item.quantity
        sold[item.product_id][1] += item.quantity * item.unit_price
    return sorted((pk, units, revenue) for pk, (units, revenue) in sold.items())


def _report_rows(name: str) -> list[tuple[int, int, Decimal]]:
    with default_storage.open(name, "rb") as report:
        lines = list(csv.reader(io.StringIO(report.read().decode())))
    assert lines[:1] == [REPORT_HEADER], (
        f"The report {name} starts with {lines[:1]}; expected the header"
        f" {','.join(REPORT_HEADER)}."
    )
    return sorted((int(r[0]), int(r[2]), Decimal(r[3])) for r in lines[1:])


def _stored_name(url: str) -> str | None:
    """Return the storage name of the report file a URL points at."""
    for path in Path(settings.MEDIA_ROOT).rglob("*"):
        name = path.relative_to(settings.MEDIA_ROOT).as_posix()
        if path.is_file() and url.endswith(default_storage.url(name)):
            return name
    return None


def _status(client: Any, url: str) -> dict[str, Any]:
    response = client.get(url)
    try:
        answer = json.loads(response.content)
    except ValueError:
        answer = None
    assert response.status_code == 200 and isinstance(answer, dict), (
        f"GET {url} answered {response.status_code}"
        f" {response.get('Content-Type', '')}; expected 200 with JSON"
        ' {"state": ..., ...}.'
    )
    return answer


@pytest.mark.exercise("05-sales-report", budget="status")
@pytest.mark.django_db(transaction=True)
def test_a_worker_builds_the_report_and_the_status_url_follows_it(
    staff_client: Any, media: Path, course_worker_factory: WorkerFactory
) -> None:
    orders_make(orders=12, customers=customers_make(3))
    queue = f"checker-{uuid.uuid4().hex[:12]}"
    with _routed_to(queue):
        task_id, status_url = _report_started(staff_client)
    subscription = _progress_states(task_id)

    # The worker starts after the subscription: no state update is missed.
    worker = course_worker_factory(queue=queue, environment=_worker_environment(media))
    drained = worker.drain([task_id], timeout=DRAIN_SECONDS)
    states = _states_seen(subscription)

    assert_within(drained, drained_by_worker())
    assert "PROGRESS" in states, (
        f"{REPORT_TASK} stored the states {states} and never PROGRESS: no page"
        " can tell how far it has got. Declare it with bind=True and call"
        ' self.update_state(state="PROGRESS", meta={"done": ..., "total": ...})'
        f" as it writes rows ({task_site(build_sales_report)})."
    )
    done = _status(staff_client, status_url)
    url = str(done.get("url", ""))
    assert done.get("state") == "SUCCESS" and url, (
        f"GET {status_url} answered {done} once the task succeeded; expected"
        ' {"state": "SUCCESS", "url": "<the report\'s URL>"}.'
    )
    name = _stored_name(url)
    assert name is not None, (
        f"GET {status_url} links to {url}, and no file in storage has that"
        " URL; expected default_storage.url() of the name the task returned."
    )
    rows, expected = _report_rows(name), _report_rows_expected()
    assert rows == expected, (
        f"The report {name} holds {len(rows)} products; the paid and shipped"
        f" orders sold {len(expected)}, or their units and revenue differ."
    )

    # The same page while a report is under way: its progress, as stored.
    running = str(uuid.uuid4())
    meta = {"done": 3, "total": 7}
    current_app.backend.store_result(running, meta, "PROGRESS")
    progress = _status(staff_client, status_url.replace(task_id, running))
    assert progress.get("state") == "PROGRESS" and progress.get("progress") == meta, (
        f"GET {status_url.replace(task_id, running)} answered {progress} for a"
        f" task in PROGRESS with meta {meta}; expected"
        f' {{"state": "PROGRESS", "progress": {json.dumps(meta)}}}.'
    )


@pytest.mark.exercise("05-sales-report", budget="acks-late")
@pytest.mark.django_db(transaction=True)
def test_a_report_whose_worker_is_killed_is_built_by_the_next_worker(
    staff_client: Any, media: Path, course_worker_factory: WorkerFactory
) -> None:
    orders_make(orders=6, customers=customers_make(2))
    queue = f"checker-{uuid.uuid4().hex[:12]}"
    # On Redis, a message a killed worker held comes back after a second;
    # RabbitMQ hands it back as soon as the worker's connection closes.
    broker = {VISIBILITY_TIMEOUT_ENV: "1"}
    first = course_worker_factory(
        queue=queue,
        environment=_worker_environment(
            media, **broker, **{PAUSE_ENV: f"{REPORT_TASK}=60"}
        ),
    )
    with first.routed():
        task_id, _ = _report_started(staff_client)
    first.wait_started(task_id, timeout=DRAIN_SECONDS)

    first.kill()
    second = course_worker_factory(
        queue=queue, environment=_worker_environment(media, **broker)
    )
    drained = second.drain([task_id], timeout=REDELIVERY_SECONDS)

    [verdict] = check_all(drained, drained_by_worker())
    assert verdict.met or drained.outcomes, (
        f"{REPORT_TASK} was lost with the worker killed while it ran: the next"
        f" worker on its queue never received it within {REDELIVERY_SECONDS} s."
        " The message was acknowledged on receipt, so the broker had nothing"
        " to hand back. Set acks_late=True (and reject_on_worker_lost=True) on"
        f" the task ({task_site(build_sales_report)}): the message is then"
        " acknowledged once the task is done. Safe here, because building the"
        " report twice is harmless (the task is idempotent)."
    )
    assert verdict.met, verdict.message


# --- the thumbnails -----------------------------------------------------------


def _upload(name: str = "kettle.png") -> SimpleUploadedFile:
    picture = io.BytesIO()
    Image.new("RGB", (800, 400), "orange").save(picture, format="PNG")
    return SimpleUploadedFile(name, picture.getvalue(), "image/png")


def _upload_path(product: Product) -> str:
    return f"/products/{product.slug}/images/upload/"


def _thumbnail_offloaded(
    label: str, measurement: Measurement, here: WorkHere, product: Product
) -> None:
    """Fail, naming where, if the thumbnail was made in the request."""
    images = {
        image.image.name for image in ProductImage.objects.filter(product=product)
    }
    made = [(name, site) for name, site in here.writes if name not in images]
    _, inline = _by_name(measurement, THUMBNAIL_TASK)
    if made and not inline:
        name, site = made[0]
        raise AssertionError(
            f"{label} made the thumbnail inside the request: wrote {name} from"
            f" {site}. Expected {THUMBNAIL_TASK} published to a worker. Call"
            f" `{THUMBNAIL_TASK}.delay_on_commit(product_image.pk)` where the"
            " image is saved, instead of making the thumbnail there."
        )
    assert_within(measurement, task_offloaded(THUMBNAIL_TASK))


@dataclass
class Upload:
    """A staff client, a product to upload images of, and a queue set aside."""

    client: Any
    product: Product
    queue: str

    @property
    def path(self) -> str:
        return _upload_path(self.product)

    def measured(self, capture: Any, label: str = "") -> tuple[Measurement, Any]:
        """Upload an image, run the on-commit callbacks; check nothing was made."""
        label = label or f"POST {self.path}"
        with (
            _work_here() as here,
            measured(label) as measurement,
            # Outside the capture: the on-commit callbacks publish as it ends.
            _routed_to(self.queue) as routes,
            capture(execute=True),
        ):
            self.client.post(self.path, {"image": _upload()})
        _thumbnail_offloaded(label, measurement, here, self.product)
        return measurement, routes


@pytest.fixture
def upload(staff_client: Any, aside: str) -> Upload:
    [product] = catalog_make(products=1, reviews_per_product=0)
    return Upload(staff_client, product, aside)


@pytest.mark.exercise("05-thumbnails", budget="offloaded")
@pytest.mark.django_db
def test_the_upload_publishes_the_thumbnail_task_and_makes_none_itself(
    upload: Upload, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    upload.measured(django_capture_on_commit_callbacks)


@pytest.mark.exercise("05-thumbnails", budget="on-commit")
@pytest.mark.django_db
def test_the_thumbnail_task_leaves_once_the_image_row_is_committed(
    upload: Upload,
    media: Path,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Many projects run each request in a transaction; the admin saves a
    # product and its images in one too.
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    label = f"POST {upload.path} with ATOMIC_REQUESTS"

    measurement, _ = upload.measured(django_capture_on_commit_callbacks, label)

    assert_within(measurement, task_published_on_commit(THUMBNAIL_TASK))


def _settings_site() -> str:
    """Return `shop_app/config/settings/base.py:<line>` of its Celery settings."""
    path = shop_code().base / "shop_app" / "config" / "settings" / "base.py"
    lines = path.read_text().splitlines() if path.exists() else []
    found = [n for n, line in enumerate(lines, 1) if line.startswith("CELERY_")]
    return f"shop_app/config/settings/base.py:{found[-1] if found else 1}"


@pytest.mark.exercise("05-thumbnails", budget="queue")
@pytest.mark.django_db
def test_thumbnails_go_to_the_images_queue_whose_workers_are_recycled(
    upload: Upload, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    measurement, routes = upload.measured(django_capture_on_commit_callbacks)

    published, _ = _by_name(measurement, THUMBNAIL_TASK)
    [queue] = {routes[task.name] for task in published}
    assert queue == IMAGES_QUEUE, (
        f"{measurement.label} published {THUMBNAIL_TASK} to queue {queue!r}"
        f" from {published[0].call_site} (budget: {THUMBNAIL_TASK} on queue"
        f" {IMAGES_QUEUE!r}): it waits behind every other task there, and its"
        " memory grows the workers that serve them. Route it in"
        f" {_settings_site()}: CELERY_TASK_ROUTES ="
        f' {{"catalog.tasks.{THUMBNAIL_TASK}": {{"queue": "{IMAGES_QUEUE}"}}}}.'
    )
    conf = current_app.conf
    recycled = conf.worker_max_tasks_per_child or conf.worker_max_memory_per_child
    assert recycled, (
        f"{THUMBNAIL_TASK} goes to queue {IMAGES_QUEUE!r}, whose workers are"
        " never recycled: a worker that opens large images keeps the memory."
        " Set CELERY_WORKER_MAX_TASKS_PER_CHILD and/or"
        f" CELERY_WORKER_MAX_MEMORY_PER_CHILD (KiB) in {_settings_site()}."
    )


@pytest.mark.exercise("05-thumbnails", budget="drained")
@pytest.mark.django_db(transaction=True)
def test_a_worker_makes_a_jpeg_thumbnail_within_200px(
    staff_client: Any, media: Path, course_worker_factory: WorkerFactory
) -> None:
    [product] = catalog_make(products=1, reviews_per_product=0)
    worker = course_worker_factory(environment=_worker_environment(media))
    label = f"POST {_upload_path(product)}"

    with (
        _work_here() as here,
        measured(label) as measurement,
        # Wherever the shop routes it, the task goes to this worker.
        _routed_to(worker.queue),
    ):
        staff_client.post(_upload_path(product), {"image": _upload()})
    _thumbnail_offloaded(label, measurement, here, product)
    drained = worker.drain(measurement.tasks, timeout=DRAIN_SECONDS)

    assert_within(drained, drained_by_worker())
    image = ProductImage.objects.get(product=product)
    assert image.thumbnail, (
        f"The worker ran {THUMBNAIL_TASK} ({task_site(make_thumbnail)})"
        f" successfully, and ProductImage {image.pk} still has no thumbnail:"
        " the task must save one into ProductImage.thumbnail."
    )
    with (
        default_storage.open(str(image.thumbnail.name), "rb") as stored,
        Image.open(stored) as thumbnail,
    ):
        kind, (width, height) = thumbnail.format, thumbnail.size
    most_wide, most_high = THUMBNAIL_MAX
    assert kind == "JPEG" and width <= most_wide and height <= most_high, (
        f"The thumbnail {image.thumbnail.name} is a {kind} of {width} x {height}"
        f" pixels; expected a JPEG of at most {most_wide} x {most_high}."
    )
