"""Measure lesson 5's requests with their slow work inline or offloaded.

Part of `lesson_receipts.py`, which runs `measure_offload` in each shop's
child process. The requests do slow work and are committed: tasks are
published on commit, and a real worker (`checker.worker.CeleryWorker`, on the
course's broker) must find the rows. Each shop's child runs one worker on a
queue of its own, which gets every task the shop publishes (the queue the
shop's settings chose is reported beside it); every task is drained before
the next request. Mail goes over SMTP to a small server (`mail_server`) in
the parent process. The rows and files the requests created are deleted at
the end.
"""

from __future__ import annotations

import io
import os
import socketserver
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from receipts_cache import own_keys_delete

# Generous: the worker builds the whole sales report or a thumbnail of a
# large image, on a shared machine.
DRAIN_TIMEOUT = 120.0
IMAGE_SIZE = (3000, 2000)


def jpeg() -> bytes:
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


def _offload_scenarios(
    *, product: Any, staff: Any
) -> list[tuple[str, Callable[[int], Any]]]:
    """Return the labelled requests of lesson 5; each takes its run number."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    image = jpeg()
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
    label: str,
    call: Callable[[int], Any],
    *,
    worker: Any,
    configured: Any,
    project: Any,
    timed_runs: int,
) -> dict[str, Any]:
    """Time the request `call` makes, then wait for the worker to do its tasks."""
    from checker.measure import measure

    times: list[float] = []
    worker_times: list[float] = []
    drained: list[float] = []
    states: set[str] = set()
    for run in range(timed_runs + 1):
        # After lesson 4 the sales report reads cached sales: start every run
        # with no keys, so that the report is built every time.
        own_keys_delete()
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


def measure_offload(
    project: Any, *, product: Any, staff: Any, timed_runs: int
) -> list[dict[str, Any]]:
    """Measure lesson 5's requests with a worker draining their tasks (in a child)."""
    from django.contrib.auth import get_user_model

    from catalog.models import ProductImage

    newest = ProductImage.objects.order_by("-pk").values_list("pk", flat=True).first()
    try:
        with _worker() as (worker, configured):
            return [
                _offload_runs(
                    label,
                    call,
                    worker=worker,
                    configured=configured,
                    project=project,
                    timed_runs=timed_runs,
                )
                for label, call in _offload_scenarios(product=product, staff=staff)
            ]
    finally:
        get_user_model().objects.filter(
            username__startswith=os.environ["RECEIPTS_TOKEN"]
        ).delete()
        ProductImage.objects.filter(pk__gt=newest or 0).delete()
        own_keys_delete()


class _MailSink(socketserver.StreamRequestHandler):
    """Take mail the way an SMTP server does, count it and drop it."""

    server: MailServer

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


class MailServer(socketserver.ThreadingTCPServer):
    """Serve `_MailSink` on a free local port."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _MailSink)
        # How many messages it has taken, and how long each connection took.
        self.received = 0
        self.conversations: list[float] = []


@contextmanager
def mail_server() -> Iterator[MailServer]:
    """Run an SMTP server on a free local port in a thread of this process."""
    server = MailServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


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


def offload_explanation() -> str:
    """Return the sentences that say how the requests were made and measured."""
    return (
        "Every request is committed, and a real worker on the"
        " course's broker drained its tasks before the next request. The"
        f" upload is a {IMAGE_SIZE[0]}\N{MULTIPLICATION SIGN}{IMAGE_SIZE[1]}"
        f' JPEG of {len(jpeg()) / 2**20:.1f} MiB. "→" reads "before → after".'
    )


def mail_note(received: dict[str, int], conversations: list[float]) -> str:
    """Return the note on how many emails the mail server took, and how fast."""
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
