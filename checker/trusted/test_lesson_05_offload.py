"""Trusted tests of lesson 5: the sales report and the thumbnails, in a worker.

They drive the shop apart (`checker.harness`). What a request published is
read from the LPUSHes Redis saw on the broker's database; the files it made
from how the run's media folder changed: nothing may appear during the
request, the file must be there once a worker the trusted side started has
run the task. A task's states and result come from the result backend. The
shop's own report only names the lines that saved a file or published a
task, for the diagnosis.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from PIL import Image

from checker.budgets import assert_within, check_all
from checker.budgets.tasks import (
    drained_by_worker,
    task_offloaded,
    task_published_on_commit,
)
from checker.harness.cache_server import CommandLog
from checker.harness.run import ShopRun
from checker.harness.shop import Page, Shop
from checker.harness.workers import (
    RESULTS_DB,
    Published,
    Workers,
    database,
    drain_report,
    published,
    task_result,
    until,
)
from checker.trusted.commits import commits_refused

REPORT = "/dashboard/sales/report/"
REPORT_TASK = "build_sales_report"
REPORT_HEADER = ["product_id", "product", "units", "revenue"]
THUMBNAIL_TASK = "make_thumbnail"
IMAGES_QUEUE = "images"
THUMBNAIL_MAX = (200, 200)
PAID = ("paid", "shipped")
# Long enough for a worker to start and run one small task on a busy machine.
DRAIN_SECONDS = 30
# How long a worker that was handed a lost message may take to run it: the
# broker hands it back within a second or two (visibility timeout below).
REDELIVERY_SECONDS = 20
VISIBILITY = {"COURSE_BROKER_VISIBILITY_TIMEOUT": "1"}
# A worker's query of the order items, waiting for the lock the test holds.
_WAITING = """
SELECT count(*) FROM pg_catalog.pg_stat_activity
WHERE wait_event_type = 'Lock' AND pid <> pg_catalog.pg_backend_pid()
  AND datname = pg_catalog.current_database() AND query ILIKE '%orders_orderitem%'
"""


@pytest.fixture(autouse=True)
def cache_emptied(shop_run: ShopRun) -> Iterator[None]:
    """Start and leave each test with an empty cache.

    Lesson 4 caches the sales figures, and the trusted side builds its rows
    without the signals that would drop them: a report read from the cache
    would hold another test's orders and never wait for the lock below.
    """
    # The shop's own Redis user may not FLUSHDB; the trusted side's may.
    assert shop_run.redis is not None
    shop_run.redis.admin().flushdb()
    yield
    shop_run.redis.admin().flushdb()


@pytest.fixture
def media(shop_run: ShopRun) -> Path:
    """Return the run's media folder, the shop's and its workers' MEDIA_ROOT."""
    return shop_run.plan.folder / "media"


@pytest.fixture
def staff(shop: Shop) -> str:
    """Return the username of a staff member."""
    return str(shop.build("staff_make")["username"])


# --- what a request did ----------------------------------------------------------


def _files(media: Path) -> set[str]:
    """Return the names of the files in the media folder, as storage names."""
    return {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()}


@dataclass
class Request:
    """One request: its page, what it published and the files it made."""

    label: str
    page: Page
    messages: list[Published]
    made: set[str]
    # The shop's own word on where it saved each file and published each
    # task: chains of project lines, outermost first. Places only.
    places: dict[str, Any]

    def saved_from(self, name: str) -> str:
        """Return the chain of lines that saved `name`, as `a → b`, or ""."""
        for saved in self._places("saved"):
            if saved.get("name") == name:
                return " → ".join(str(place) for place in saved.get("places") or [])
        return ""

    def call_site(self, task_id: str) -> str | None:
        """Return the innermost project line that published `task_id`."""
        for sent in self._places("published"):
            places = sent.get("places")
            if sent.get("id") == task_id and places and isinstance(places, list):
                return str(places[-1])
        return None

    def _places(self, kind: str) -> list[dict[str, Any]]:
        found = self.places.get(kind) if isinstance(self.places, dict) else None
        return [item for item in found or [] if isinstance(item, dict)]

    def tasks(self, task: str, *, transaction: str = "") -> dict[str, Any]:
        """Return what was published as a task recording, for the budgets."""
        records = [
            {
                "name": message.task,
                "call_site": self.call_site(message.id),
                "in_transaction": bool(transaction),
                "transaction": transaction or None,
            }
            for message in self.messages
            if message.short == task
        ]
        return {"label": self.label, "tasks": {"published": records, "inline": []}}


def _requested(
    shop: Shop,
    media: Path,
    path: str,
    *,
    user: str,
    data: Any = None,
    label: str = "",
) -> Request:
    """POST `path` as `user`; return what Redis and the media folder saw."""
    label = label or f"POST {path}"
    before = _files(media)
    with shop.redis.commands_watch() as log:
        page = shop.post(path, data, user=user, label=label)
    return _request(shop, media, label, page, log, before)


def _request(
    shop: Shop, media: Path, label: str, page: Page, log: CommandLog, before: set[str]
) -> Request:
    made = _files(media) - before
    return Request(label, page, published(log), made, shop.command("places"))


def _defined_at(shop_run: ShopRun, module: str, name: str) -> str:
    """Return `module:line` of `def name` in the shop's source, read as text."""
    path = Path(shop_run.plan.root) / module
    text = path.read_text(errors="replace") if path.is_file() else ""
    lines = text.splitlines()
    found = [n for n, line in enumerate(lines, 1) if re.match(rf"def {name}\b", line)]
    return f"{module}:{found[0] if found else 1}"


# --- the sales report --------------------------------------------------------


def _built_here(request: Request) -> str:
    name = sorted(request.made)[0]
    site = request.saved_from(name)
    count = request.page.measurement.query_count
    queries = f"{count} {'query' if count == 1 else 'queries'}"
    return (
        f"{request.label} built the report inside the request: {queries}; wrote "
        f"{name}{f' from {site}' if site else ''}. Expected {REPORT_TASK} "
        f"published to a worker and a 202 answer. Call `{REPORT_TASK}.delay()` "
        'in the view and answer JsonResponse({"task_id": ..., "status_url": '
        "...}, status=202)."
    )


def _report_started(shop: Shop, media: Path, staff: str) -> tuple[Published, str]:
    """POST the report request; return the task's message and the status URL.

    Fail, naming where the work was done, unless the view published the task,
    made no file itself and answered 202 with both.
    """
    request = _requested(shop, media, REPORT, user=staff)
    if request.made:
        raise AssertionError(_built_here(request))
    assert_within(request.tasks(REPORT_TASK), task_offloaded(REPORT_TASK))
    message = next(m for m in request.messages if m.short == REPORT_TASK)
    page = request.page
    try:
        answer = json.loads(page.content)
    except ValueError:
        answer = None
    if page.status != 202 or not isinstance(answer, dict):
        raise AssertionError(
            f"{request.label} published {REPORT_TASK} but answered {page.status}"
            f" {page.headers.get('Content-Type', '')}; expected 202 with JSON"
            f' {{"task_id": "{message.id}", "status_url": "..."}}. Return'
            " JsonResponse(..., status=202)."
        )
    status_url = answer.get("status_url")
    if answer.get("task_id") != message.id or not status_url:
        raise AssertionError(
            f"{request.label} answered {answer!r}; expected the published task's "
            f'id ("task_id": "{message.id}") and "status_url", the URL of the '
            "page that tells the task's state."
        )
    return message, str(status_url)


@pytest.mark.exercise("05-sales-report", budget="offloaded")
def test_the_report_request_publishes_the_task_and_answers_202(
    shop: Shop, media: Path, staff: str, workers: Workers
) -> None:
    shop.build("orders_make", orders=12)

    _report_started(shop, media, staff)


def _states(log: CommandLog, task_id: str) -> list[str]:
    """Return the states the result backend was given for `task_id`, in order."""
    key = f"celery-task-meta-{task_id}".encode()
    states = []
    for command in list(log.commands):
        if command.db != RESULTS_DB or command.name not in {"SET", "SETEX"}:
            continue
        if not command.args or command.args[0] != key:
            continue
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            states.append(str(json.loads(command.args[-1])["status"]))
    return states


def _report_rows_expected(trusted_sql: Any) -> list[tuple[int, int, Decimal]]:
    rows = trusted_sql.execute(
        "SELECT i.product_id, sum(i.quantity), sum(i.quantity * i.unit_price)"
        " FROM public.orders_orderitem i JOIN public.orders_order o"
        " ON o.id = i.order_id WHERE o.status = ANY(%s) GROUP BY i.product_id",
        [list(PAID)],
    ).fetchall()
    return sorted(
        (int(pk), int(units), Decimal(revenue)) for pk, units, revenue in rows
    )


def _report_rows(media: Path, name: str) -> list[tuple[int, int, Decimal]]:
    text = (media / name).read_text(errors="replace")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[:1] == [REPORT_HEADER], (
        f"The report {name} starts with {lines[:1]}; expected the header"
        f" {','.join(REPORT_HEADER)}."
    )
    try:
        return sorted((int(r[0]), int(r[2]), Decimal(r[3])) for r in lines[1:])
    except (IndexError, ValueError, ArithmeticError):
        raise AssertionError(
            f"The report {name} has rows that are not product id, name, units"
            " and revenue."
        ) from None


def _stored_name(media: Path, url: str) -> str | None:
    """Return the name of the file in the media folder a URL points at."""
    path = unquote(url.split("?")[0])
    for name in sorted(_files(media)):
        if path.endswith(f"/{name}"):
            return name
    return None


def _status(shop: Shop, staff: str, url: str) -> dict[str, Any]:
    page = shop.get(url, user=staff)
    try:
        answer = json.loads(page.content)
    except ValueError:
        answer = None
    assert page.status == 200 and isinstance(answer, dict), (
        f"GET {url} answered {page.status}"
        f" {page.headers.get('Content-Type', '')}; expected 200 with JSON"
        ' {"state": ..., ...}.'
    )
    return answer


def _result_store(shop: Shop, task_id: str, state: str, meta: Any) -> None:
    """Store a task's state in the result backend, as a worker would."""
    client = database(shop.redis, RESULTS_DB)
    try:
        value = {"status": state, "result": meta, "traceback": None}
        value.update(children=[], date_done=None, task_id=task_id)
        client.set(f"celery-task-meta-{task_id}", json.dumps(value))
    finally:
        client.close()


@pytest.mark.exercise("05-sales-report", budget="status")
def test_a_worker_builds_the_report_and_the_status_url_follows_it(
    shop: Shop,
    shop_run: ShopRun,
    media: Path,
    staff: str,
    workers: Workers,
    trusted_sql: Any,
) -> None:
    shop.build("orders_make", orders=12)
    message, status_url = _report_started(shop, media, staff)
    before = _files(media)

    with shop.redis.commands_watch() as log:
        workers.start([message.queue])
        drained = drain_report(
            shop.redis, message.queue, [message.id], timeout=DRAIN_SECONDS
        )
    states = _states(log, message.id)

    assert_within(drained, drained_by_worker())
    site = _defined_at(shop_run, "shop_app/orders/tasks.py", REPORT_TASK)
    assert "PROGRESS" in states, (
        f"{REPORT_TASK} stored the states {states} and never PROGRESS: no page"
        " can tell how far it has got. Declare it with bind=True and call"
        ' self.update_state(state="PROGRESS", meta={"done": ..., "total": ...})'
        f" as it writes rows ({site})."
    )
    done = _status(shop, staff, status_url)
    url = str(done.get("url", ""))
    assert done.get("state") == "SUCCESS" and url, (
        f"GET {status_url} answered {done} once the task succeeded; expected"
        ' {"state": "SUCCESS", "url": "<the report\'s URL>"}.'
    )
    name = _stored_name(media, url)
    assert name is not None and name in _files(media) - before, (
        f"GET {status_url} links to {url}, and no file the worker wrote has that"
        " URL; expected default_storage.url() of the name the task returned."
    )
    rows, expected = _report_rows(media, name), _report_rows_expected(trusted_sql)
    assert rows == expected, (
        f"The report {name} holds {len(rows)} products; the paid and shipped"
        f" orders sold {len(expected)}, or their units and revenue differ."
    )

    # The same page while a report is under way: its progress, as stored.
    running = str(uuid.uuid4())
    meta = {"done": 3, "total": 7}
    _result_store(shop, running, "PROGRESS", meta)
    progress_url = status_url.replace(message.id, running)
    progress = _status(shop, staff, progress_url)
    assert progress.get("state") == "PROGRESS" and progress.get("progress") == meta, (
        f"GET {progress_url} answered {progress} for a task in PROGRESS with"
        f' meta {meta}; expected {{"state": "PROGRESS", "progress":'
        f" {json.dumps(meta)}}}."
    )


@contextlib.contextmanager
def _order_items_locked(trusted_sql: Any) -> Iterator[None]:
    """Hold a lock that makes every query of the order items wait."""
    trusted_sql.execute("BEGIN")
    try:
        trusted_sql.execute(
            "LOCK TABLE public.orders_orderitem IN ACCESS EXCLUSIVE MODE"
        )
        yield
    finally:
        trusted_sql.execute("ROLLBACK")


def _waiting(watcher: Any) -> bool:
    return bool(watcher.execute(_WAITING).fetchone()[0])


@pytest.mark.exercise("05-sales-report", budget="acks-late")
def test_a_report_whose_worker_is_killed_is_built_by_the_next_worker(
    shop: Shop,
    shop_run: ShopRun,
    media: Path,
    staff: str,
    workers: Workers,
    trusted_sql: Any,
) -> None:
    shop.build("orders_make", orders=6)
    message, _ = _report_started(shop, media, staff)
    site = _defined_at(shop_run, "shop_app/orders/tasks.py", REPORT_TASK)

    # The first worker runs the task in a thread, so that a message acked on
    # receipt is acked as it would be in production, while the task waits.
    with _order_items_locked(trusted_sql):
        first = workers.start([message.queue], pool="threads")
        # Another connection: inside a transaction, the activity view keeps
        # the snapshot it first took.
        with shop_run.trusted_connection() as watcher:
            reading = until(partial(_waiting, watcher), timeout=DRAIN_SECONDS)
        first.kill()
    assert reading and not task_result(shop.redis, message.id), (
        f"The worker never read the order items to build the report within "
        f"{DRAIN_SECONDS} s ({site}). Its output ends with:\n{first.log_tail()}"
    )
    # On Redis, a message a killed worker held comes back after a second.
    workers.start([message.queue], env=VISIBILITY)
    drained = drain_report(
        shop.redis, message.queue, [message.id], timeout=REDELIVERY_SECONDS
    )

    [verdict] = check_all(drained, drained_by_worker())
    assert verdict.met or drained.outcomes, (
        f"{REPORT_TASK} was lost with the worker killed while it ran: the next"
        f" worker on its queue never received it within {REDELIVERY_SECONDS} s."
        " The message was acknowledged on receipt, so the broker had nothing"
        " to hand back. Set acks_late=True (and reject_on_worker_lost=True) on"
        f" the task ({site}): the message is then acknowledged once the task"
        " is done. Safe here, because building the report twice is harmless"
        " (the task is idempotent)."
    )
    assert verdict.met, verdict.message
    name = str(drained.outcomes[0].result)
    assert name in _files(media), (
        f"{REPORT_TASK} succeeded in the second worker and returned {name!r},"
        " which names no file in storage; expected the name"
        " default_storage.save() returned."
    )


# --- the thumbnails -----------------------------------------------------------


def _upload() -> dict[str, Any]:
    picture = io.BytesIO()
    Image.new("RGB", (800, 400), "orange").save(picture, format="PNG")
    content = base64.b64encode(picture.getvalue()).decode()
    return {
        "__upload__": "kettle.png",
        "content_type": "image/png",
        "content": content,
    }


def _images(trusted_sql: Any, product_pk: int) -> list[tuple[int, str, str]]:
    """Return the product's images: id, image name, thumbnail name."""
    rows = trusted_sql.execute(
        "SELECT id, image, thumbnail FROM public.catalog_productimage"
        " WHERE product_id = %s ORDER BY id",
        [product_pk],
    ).fetchall()
    return [(int(pk), str(image or ""), str(thumb or "")) for pk, image, thumb in rows]


@dataclass
class Upload:
    """A staff member, a product to upload images of, and what checks them."""

    shop: Shop
    media: Path
    staff: str
    product: dict[str, Any]
    trusted_sql: Any

    @property
    def path(self) -> str:
        return f"/products/{self.product['slug']}/images/upload/"

    def posted(self, label: str = "") -> Request:
        """Upload an image; return what it published and made."""
        return _requested(
            self.shop,
            self.media,
            self.path,
            user=self.staff,
            data={"image": _upload()},
            label=label,
        )

    def offloaded(self, label: str = "") -> Request:
        """Upload an image; fail, naming where, unless no thumbnail was made."""
        request = self.posted(label)
        images = {image for _, image, _ in _images(self.trusted_sql, self.pk)}
        made = sorted(request.made - images)
        if made:
            site = request.saved_from(made[0])
            raise AssertionError(
                f"{request.label} made the thumbnail inside the request: wrote "
                f"{made[0]}{f' from {site}' if site else ''}. Expected "
                f"{THUMBNAIL_TASK} published to a worker. Call "
                f"`{THUMBNAIL_TASK}.delay_on_commit(product_image.pk)` where the "
                "image is saved, instead of making the thumbnail there."
            )
        assert request.page.status == 302, (
            f"{request.label} answered {request.page.status}; expected a redirect"
            " to the product page once the image is stored."
        )
        assert_within(request.tasks(THUMBNAIL_TASK), task_offloaded(THUMBNAIL_TASK))
        return request

    @property
    def pk(self) -> int:
        return int(self.product["pk"])


def _upload_for(shop: Shop, media: Path, staff: str, trusted_sql: Any) -> Upload:
    [product] = shop.build("catalog_make", products=1, reviews_per_product=0)
    return Upload(shop, media, staff, product, trusted_sql)


@pytest.fixture
def upload(
    shop: Shop, media: Path, staff: str, trusted_sql: Any, workers: Workers
) -> Upload:
    return _upload_for(shop, media, staff, trusted_sql)


@pytest.mark.exercise("05-thumbnails", budget="offloaded")
def test_the_upload_publishes_the_thumbnail_task_and_makes_none_itself(
    upload: Upload,
) -> None:
    upload.offloaded()


@pytest.mark.exercise("05-thumbnails", budget="on-commit")
def test_the_thumbnail_task_leaves_once_the_image_row_is_committed(
    shop: Shop,
    shop_run: ShopRun,
    media: Path,
    workers: Workers,
    trusted_sql: Any,
) -> None:
    # Many projects run each request in a transaction; the admin saves a
    # product and its images in one too. The next test gets the shop as the
    # run started it.
    atomic = shop_run.restart(COURSE_ATOMIC_REQUESTS="1")
    staff = str(atomic.build("staff_make")["username"])
    upload = _upload_for(atomic, media, staff, trusted_sql)
    label = f"POST {upload.path} with ATOMIC_REQUESTS"
    first = upload.offloaded(label)

    # An upload whose transaction fails to commit must publish nothing: a
    # message sent before the COMMIT would reach a worker for a row that
    # never existed. No clock is compared: the broker saw it or not.
    with commits_refused(trusted_sql, "catalog_productimage"):
        before = _files(media)
        failed = f"{label}, whose transaction failed to commit,"
        # The page fails, or the shop hides the failure: either way, only
        # what reached the broker counts.
        with atomic.redis.commands_watch() as log:
            with contextlib.suppress(AssertionError):
                atomic.post(upload.path, {"image": _upload()}, user=staff)
            early = published(log, THUMBNAIL_TASK)
        places = atomic.command("places")
    refused = Request(failed, first.page, early, _files(media) - before, places)
    records = (
        first.tasks(THUMBNAIL_TASK)["tasks"]["published"]
        + refused.tasks(THUMBNAIL_TASK, transaction="rolled back")["tasks"]["published"]
    )
    assert_within(
        {"label": failed, "tasks": {"published": records}},
        task_published_on_commit(THUMBNAIL_TASK),
    )


def _settings_site(shop_run: ShopRun) -> str:
    """Return `shop_app/config/settings/base.py:<line>` of its Celery settings."""
    module = "shop_app/config/settings/base.py"
    path = Path(shop_run.plan.root) / module
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    found = [n for n, line in enumerate(lines, 1) if line.startswith("CELERY_")]
    return f"{module}:{found[-1] if found else 1}"


@pytest.mark.exercise("05-thumbnails", budget="queue")
def test_thumbnails_go_to_the_images_queue_whose_workers_are_recycled(
    upload: Upload, shop_run: ShopRun
) -> None:
    request = upload.offloaded()

    # The queue is the one the message was pushed to, as Redis saw it.
    [message] = [m for m in request.messages if m.short == THUMBNAIL_TASK][:1]
    site = _settings_site(shop_run)
    where = request.call_site(message.id)
    assert message.queue == IMAGES_QUEUE, (
        f"{request.label} published {THUMBNAIL_TASK} to queue {message.queue!r}"
        f"{f' from {where}' if where else ''} (budget: {THUMBNAIL_TASK} on queue"
        f" {IMAGES_QUEUE!r}): it waits behind every other task there, and its"
        " memory grows the workers that serve them. Route it in"
        f" {site}: CELERY_TASK_ROUTES ="
        f' {{"catalog.tasks.{THUMBNAIL_TASK}": {{"queue": "{IMAGES_QUEUE}"}}}}.'
    )
    # Recycling is a setting the worker reads at start, not something a
    # request does: no server can count it, so the shop's configuration is
    # asked. A shop that lies here only lies about its own production
    # setup; no point rests on a count it reports.
    conf, _ = upload.shop.invoke(
        "checker.harness.shop_data.celery_settings",
        names=["worker_max_tasks_per_child", "worker_max_memory_per_child"],
    )
    assert any(conf.values()), (
        f"{THUMBNAIL_TASK} goes to queue {IMAGES_QUEUE!r}, whose workers are"
        " never recycled: a worker that opens large images keeps the memory."
        " Set CELERY_WORKER_MAX_TASKS_PER_CHILD and/or"
        f" CELERY_WORKER_MAX_MEMORY_PER_CHILD (KiB) in {site}."
    )


def _thumbnail_kind(media: Path, name: str) -> tuple[str, int, int]:
    path = (media / name).resolve()
    assert path.is_relative_to(media.resolve()) and path.is_file(), (
        f"The thumbnail {name} is not a file in storage."
    )
    with Image.open(path) as thumbnail:
        width, height = thumbnail.size
        return str(thumbnail.format), width, height


@pytest.mark.exercise("05-thumbnails", budget="drained")
def test_a_worker_makes_a_jpeg_thumbnail_within_200px(
    upload: Upload, shop_run: ShopRun, workers: Workers
) -> None:
    request = upload.offloaded()
    [message] = [m for m in request.messages if m.short == THUMBNAIL_TASK][:1]
    before = _files(upload.media)

    # Wherever the shop routes it, a worker on that queue runs it.
    workers.start([message.queue])
    drained = drain_report(
        upload.shop.redis, message.queue, [message.id], timeout=DRAIN_SECONDS
    )

    assert_within(drained, drained_by_worker())
    [(pk, _, thumbnail)] = _images(upload.trusted_sql, upload.pk)
    site = _defined_at(shop_run, "shop_app/catalog/tasks.py", THUMBNAIL_TASK)
    assert thumbnail and thumbnail in _files(upload.media) - before, (
        f"The worker ran {THUMBNAIL_TASK} ({site}) successfully, and"
        f" ProductImage {pk} still has no thumbnail: the task must save one into"
        " ProductImage.thumbnail."
    )
    kind, width, height = _thumbnail_kind(upload.media, thumbnail)
    most_wide, most_high = THUMBNAIL_MAX
    assert kind == "JPEG" and width <= most_wide and height <= most_high, (
        f"The thumbnail {thumbnail} is a {kind} of {width} x {height} pixels;"
        f" expected a JPEG of at most {most_wide} x {most_high}."
    )
