"""Run a real Celery worker process and read back what each task did.

The worker is `celery -A config worker --pool=solo` in a subprocess, on the
test's settings, test database and broker, consuming a queue named for this
run only. `checker.worker_inside`, imported by that worker, reports each
task's outcome to Redis, where the test process reads it, and applies the
settings passed in `environment` (failing mail, pauses, a visibility timeout).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from checker.services.layout import Layout, project_root
from checker.worker_inside import (
    OUTCOMES_KEY_ENV,
    OUTCOMES_URL_ENV,
    PAUSE_ENV,
    QUEUE_ENV,
    VISIBILITY_TIMEOUT_ENV,
    outcomes_client,
    unacked_keys,
)

__all__ = [
    "PAUSE_ENV",
    "VISIBILITY_TIMEOUT_ENV",
    "CeleryWorker",
    "DrainReport",
    "TaskOutcome",
    "WorkerError",
    "database_url",
    "queue_remove",
]

_FINAL = {"succeeded", "failed", "unknown"}


def queue_remove(name: str, broker_url: str | None = None) -> None:
    """Delete a queue named for one run, with its messages and routing.

    Over Redis a fresh connection knows no bindings: deleting the queue alone
    would leave its messages, its exchange's binding sets and the
    unacknowledged messages of its workers, so those go explicitly.
    """
    from celery import current_app

    with (
        current_app.connection_for_write(broker_url) as connection,
        contextlib.suppress(*connection.channel_errors),
    ):
        channel: Any = connection.default_channel
        channel.queue_purge(name)
        channel.queue_delete(name)
        client = getattr(channel, "client", None)
        if client is not None:
            client.delete(
                f"_kombu.binding.{name}",
                f"_kombu.binding_permanent.{name}",
                *unacked_keys(name).values(),
            )


class WorkerError(Exception):
    """The worker did not start or did not finish its work in time."""


@dataclass(frozen=True)
class TaskOutcome:
    """What the worker did with one run of a task."""

    id: str
    name: str
    # "succeeded", "failed", "retried", "unknown" (not registered), or
    # "started" (not final: reported only for a task the worker pauses).
    state: str
    result: Any = None
    error: str | None = None
    runtime: float = 0.0
    retries: int = 0
    # {"subject": ..., "to": [...]} of every email this run sent.
    emails: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DrainReport:
    """The final outcome of each awaited task, and what is left undone."""

    queue: str
    outcomes: list[TaskOutcome] = field(default_factory=list)
    # Every run of the awaited tasks, retries included, oldest first.
    runs: list[TaskOutcome] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    queue_size: int = 0

    @property
    def drained(self) -> bool:
        return not self.pending and self.queue_size == 0

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON data."""
        return {**asdict(self), "drained": self.drained}


def database_url(settings_dict: dict[str, Any]) -> str:
    """Return a DATABASE_URL for a Django connection's settings."""
    user = quote(str(settings_dict.get("USER") or ""), safe="")
    password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    # dj-database-url puts a socket folder given as `?host=` into OPTIONS.
    options = settings_dict.get("OPTIONS") or {}
    host = str(settings_dict.get("HOST") or options.get("host") or "")
    name = quote(str(settings_dict["NAME"]), safe="")
    if host.startswith("/"):
        return f"postgres://{credentials}/{name}?host={quote(host, safe='/')}"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{name}"


class CeleryWorker:
    """A `celery worker` subprocess consuming one queue of its own."""

    def __init__(
        self,
        *,
        broker_url: str,
        outcomes_url: str,
        database_url: str,
        settings_module: str,
        queue: str | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.broker_url = broker_url
        self.database_url = database_url
        self.settings_module = settings_module
        self.queue = queue or f"checker-{uuid.uuid4().hex[:12]}"
        self.environment = dict(environment or {})
        # Several workers may consume one queue (one replaces another that was
        # killed), so each reports under a name of its own.
        self.name = f"{self.queue}-{uuid.uuid4().hex[:6]}"
        self.key = f"checker:worker:{self.name}"
        self.outcomes_redis = outcomes_client(outcomes_url)
        self._outcomes_url = outcomes_url
        self.log = Layout.default().logs / f"worker-{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _environment(self) -> dict[str, str]:
        root = project_root()
        path = os.pathsep.join(
            [str(root / "shop_app"), str(root), os.environ.get("PYTHONPATH", "")]
        )
        return {
            **os.environ,
            "PYTHONPATH": path,
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            **self.environment,
            OUTCOMES_URL_ENV: self._outcomes_url,
            OUTCOMES_KEY_ENV: self.key,
            QUEUE_ENV: self.queue,
        }

    def start(self, *, timeout: float = 60) -> None:
        """Start the worker and wait until it consumes its queue."""
        self.outcomes_redis.delete(self.key, f"{self.key}:ready")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--pool=solo", "--concurrency=1", "--queues", self.queue,
            "--include", "checker.worker_inside", "--hostname", f"{self.name}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO",
        ]  # fmt: skip
        with Path(self.log).open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=project_root() / "shop_app",
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self.outcomes_redis.exists(f"{self.key}:ready"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = "\n".join(
                    self.log.read_text(errors="replace").splitlines()[-15:]
                )
                raise WorkerError(
                    f"The Celery worker for queue {self.queue} did not start "
                    f"within {timeout:g} s. Its log ({self.log}) ends with:\n{tail}"
                )
            time.sleep(0.05)

    def stop(self, *, grace: float = 3) -> None:
        """Stop the worker: a warm shutdown, then a kill if it lingers.

        Delete its queue and its reports too, also after `kill()`.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            # Over AMQP a warm shutdown idles about 10 s before it exits; the
            # queue is this run's alone and drained, so nothing is lost by
            # not waiting that long.
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.outcomes_redis.delete(self.key, f"{self.key}:ready")
        self._delete_queue()

    def kill(self) -> None:
        """Kill the worker at once, as a crash or an out-of-memory kill would.

        No warm shutdown runs: a message it had not acknowledged stays
        unacknowledged on the broker, and the queue and reports are kept for
        the next worker and for the test.
        """
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None
        self.outcomes_redis.delete(f"{self.key}:ready")

    def _delete_queue(self) -> None:
        # The queue is named for one run; left behind, it would only pile up
        # on the broker.
        queue_remove(self.queue, self.broker_url)

    @contextlib.contextmanager
    def routed(self, *, queues: Iterable[str] = ()) -> Iterator[CeleryWorker]:
        """Send the tasks published in the block to this worker's queue.

        Tasks without a queue of their own go there, and so do tasks bound
        for one of `queues` (a task declared with `queue="images"`, say).
        """
        from celery import current_app

        router: Any = current_app.amqp.router
        redirected = set(queues)
        original = router.route

        def route(options: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            routed = original(options, name, *args, **kwargs)
            queue = routed.get("queue")
            if queue is not None and queue.name in redirected:
                # The exchange and routing key of the queue it was bound for
                # would still lead there.
                routed.pop("exchange", None)
                routed.pop("routing_key", None)
                routed["queue"] = current_app.amqp.queues[self.queue]
            return routed

        previous = current_app.conf.task_default_queue
        current_app.conf.task_default_queue = self.queue
        router.route = route
        try:
            yield self
        finally:
            current_app.conf.task_default_queue = previous
            router.route = original

    def wait_started(self, task_id: str, *, timeout: float = 10) -> TaskOutcome:
        """Wait until the worker reports that it started `task_id` (a paused task)."""
        deadline = time.monotonic() + timeout
        while True:
            for outcome in self.outcomes():
                if outcome.id == task_id and outcome.state == "started":
                    return outcome
            if time.monotonic() > deadline:
                raise WorkerError(
                    f"The Celery worker for queue {self.queue} did not start task "
                    f"{task_id} within {timeout:g} s; is it paused with "
                    f"{PAUSE_ENV}?"
                )
            time.sleep(0.02)

    def outcomes(self) -> list[TaskOutcome]:
        """Return every task run the worker reported, oldest first."""
        rows = self.outcomes_redis.lrange(self.key, 0, -1)
        return [TaskOutcome(**json.loads(row)) for row in rows]

    def queue_size(self) -> int:
        """Return how many messages wait in the worker's queue on the broker."""
        from celery import current_app

        with current_app.connection_for_write(self.broker_url) as connection:
            channel: Any = connection.default_channel
            try:
                declared = channel.queue_declare(self.queue, passive=True)
            except connection.channel_errors:
                # Redis keeps a queue as a list, and an empty list does not
                # exist: nothing is waiting.
                return 0
        return int(declared.message_count)

    def drain(self, tasks: Iterable[str] | Any, *, timeout: float = 10) -> DrainReport:
        """Wait until every task has a final outcome; report them in order.

        `tasks` is a list of task ids, or a `TaskRecorder` whose published
        tasks are awaited.
        """
        published = getattr(tasks, "published", None)
        task_ids = [t.id for t in published] if published is not None else list(tasks)
        deadline = time.monotonic() + timeout
        while True:
            final: dict[str, TaskOutcome] = {}
            runs = [run for run in self.outcomes() if run.id in task_ids]
            for outcome in runs:
                if outcome.state in _FINAL:
                    final[outcome.id] = outcome
            pending = [task_id for task_id in task_ids if task_id not in final]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return DrainReport(
            queue=self.queue,
            outcomes=[final[task_id] for task_id in task_ids if task_id in final],
            runs=runs,
            pending=pending,
            queue_size=self.queue_size(),
        )
