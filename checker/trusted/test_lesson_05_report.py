"""Trusted tests of lesson 5's sales report, built by a worker.

They drive the shop apart (`checker.harness`): nothing may appear in the
media folder during the request, and the report must be there once a worker
the trusted side started has run the task. A task's states and result come
from the result backend.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from checker.budgets import assert_within, check_all
from checker.budgets.tasks import drained_by_worker, task_offloaded
from checker.harness.cache_server import CommandLog
from checker.harness.run import ShopRun
from checker.harness.shop import Shop
from checker.harness.workers import (
    RESULTS_DB,
    Published,
    Workers,
    database,
    drain_report,
    task_result,
    until,
)
from checker.trusted.offload import (
    DRAIN_SECONDS,
    Request,
    cache_emptied,
    defined_at,
    files,
    requested,
)

__all__ = ["cache_emptied"]

REPORT = "/dashboard/sales/report/"
REPORT_TASK = "build_sales_report"
REPORT_HEADER = ["product_id", "product", "units", "revenue"]
PAID = ("paid", "shipped")
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


def _built_here(request: Request) -> str:
    name = sorted(request.made)[0]
    site = request.saved_from(name)
    count = request.page.measurement.query_count
    queries = f"{count} {'query' if count == 1 else 'queries'}"
    return (
        f"{request.label} built the report inside the request: {queries}; wrote "
        f"{name}{f' from {site}' if site else ''}. Expected {REPORT_TASK} "
        f"published to a worker and a 202 answer. Call `{REPORT_TASK}.delay()` "
        "in a service (orders/services.py) and have the view answer "
        'JsonResponse({"task_id": ..., "status_url": ...}, status=202).'
    )


def _report_started(shop: Shop, media: Path, staff: str) -> tuple[Published, str]:
    """POST the report request; return the task's message and the status URL.

    Fail, naming where the work was done, unless the view published the task,
    made no file itself and answered 202 with both.
    """
    request = requested(shop, media, REPORT, user=staff)
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
    for name in sorted(files(media)):
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
    before = files(media)

    with shop.redis.commands_watch() as log:
        workers.start([message.queue])
        drained = drain_report(
            shop.redis, message.queue, [message.id], timeout=DRAIN_SECONDS
        )
    states = _states(log, message.id)

    assert_within(drained, drained_by_worker())
    site = defined_at(shop_run, "shop_app/orders/tasks.py", REPORT_TASK)
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
    assert name is not None and name in files(media) - before, (
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
    site = defined_at(shop_run, "shop_app/orders/tasks.py", REPORT_TASK)

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
    assert name in files(media), (
        f"{REPORT_TASK} succeeded in the second worker and returned {name!r},"
        " which names no file in storage; expected the name"
        " default_storage.save() returned."
    )
