"""Run the shop's Celery workers from the trusted side, and read the broker.

    workers = Workers(shop_run)
    worker = workers.start(["celery"])      # consuming once this returns
    ...
    worker.kill()                           # as a crash would
    workers.stop_all()

A worker is the shop's own `celery worker`, started beside the shop with its
settings (in the run's sandbox when grading). It counts as consuming once
Redis itself saw it block on its queues (BRPOP, through MONITOR). What the
shop published is read from the LPUSHes MONITOR saw on the broker's
database; what a task ended as, from the result backend's database.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from checker.harness.cache_server import CommandLog
from checker.worker import DrainReport, TaskOutcome

if TYPE_CHECKING:
    from checker.harness.run import ShopRun

__all__ = [
    "BROKER_DB",
    "RESULTS_DB",
    "Published",
    "Worker",
    "WorkerError",
    "Workers",
    "broker_clear",
    "database",
    "drain_report",
    "error_text",
    "publish_again",
    "published",
    "task_result",
    "until",
]

# The run's Redis databases the shop's Celery uses (see checker.harness.run).
BROKER_DB = 1
RESULTS_DB = 3
# Kombu's Redis transport keeps a queue's priorities in keys `name\x06\x16N`.
_PRIORITY_SEPARATOR = "\x06\x16"
_FINAL = {"SUCCESS": "succeeded", "FAILURE": "failed"}


class WorkerError(AssertionError):
    """A worker did not start consuming in time, or died before it did."""


def database(run_redis: Any, db: int) -> redis.Redis:
    """Return the trusted side's client on database `db` of the run's Redis."""
    pool = run_redis.admin().connection_pool
    return redis.Redis(
        connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class,
            **{**pool.connection_kwargs, "db": db},
        )
    )


def broker_clear(run_redis: Any) -> None:
    """Drop every queued and unacknowledged message; keep the queues' bindings.

    A producer declares its exchange's bindings once per process: without
    them, the Redis transport would route its next messages nowhere.
    """
    client = database(run_redis, BROKER_DB)
    try:
        stale = [
            key
            for key in client.scan_iter(count=1000)
            if not key.startswith(b"_kombu.binding.")
        ]
        if stale:
            client.delete(*stale)
        database_results = database(run_redis, RESULTS_DB)
        database_results.flushdb()
        database_results.close()
    finally:
        client.close()


@dataclass(frozen=True)
class Published:
    """One task message a client pushed onto a queue, as Redis received it."""

    queue: str
    task: str
    id: str
    retries: int
    args: tuple[Any, ...]
    # The message exactly as pushed, to push again.
    raw: bytes

    @property
    def short(self) -> str:
        """Return the task's name without its module."""
        return self.task.rsplit(".", 1)[-1]


def _message(queue: bytes, raw: bytes) -> Published | None:
    try:
        envelope = json.loads(raw)
        headers = envelope["headers"]
        task, task_id = str(headers["task"]), str(headers["id"])
    except (ValueError, KeyError, TypeError):
        return None
    args: tuple[Any, ...] = ()
    with contextlib.suppress(ValueError, TypeError, KeyError, IndexError):
        body = base64.b64decode(envelope["body"])
        args = tuple(json.loads(body)[0])
    name = queue.decode(errors="replace").split(_PRIORITY_SEPARATOR)[0]
    return Published(
        name, task, task_id, int(headers.get("retries") or 0), args, bytes(raw)
    )


def published(log: CommandLog, task: str = "") -> list[Published]:
    """Return the task messages pushed to the broker in `log`, oldest first.

    `task` keeps those of one task, by its full or short name.
    """
    found = []
    for command in list(log.commands):
        if command.db != BROKER_DB or command.name not in {"LPUSH", "RPUSH"}:
            continue
        queue, *values = command.args
        for raw in values:
            message = _message(queue, raw)
            if message is not None and task in {"", message.task, message.short}:
                found.append(message)
    return found


def publish_again(run_redis: Any, message: Published) -> None:
    """Push a copy of `message` onto its queue, as a broker redelivers it.

    The copy keeps the task's id and arguments; only the transport's
    delivery tag is new, so the two are acknowledged apart.
    """
    envelope = json.loads(message.raw)
    envelope["properties"]["delivery_tag"] = str(uuid.uuid4())
    client = database(run_redis, BROKER_DB)
    try:
        client.lpush(message.queue, json.dumps(envelope))
    finally:
        client.close()


def task_result(run_redis: Any, task_id: str) -> dict[str, Any]:
    """Return what the result backend holds for `task_id`, or {} for nothing."""
    client = database(run_redis, RESULTS_DB)
    try:
        raw = client.get(f"celery-task-meta-{task_id}")
    finally:
        client.close()
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def error_text(meta: dict[str, Any]) -> str:
    """Return `Type(args...)` of a failed task's stored exception."""
    result = meta.get("result")
    if not isinstance(result, dict) or "exc_type" not in result:
        return repr(result)
    message = result.get("exc_message")
    parts = message if isinstance(message, list) else [message]
    return f"{result['exc_type']}({', '.join(repr(part) for part in parts)})"


def drain_report(
    run_redis: Any, queue: str, task_ids: Sequence[str], *, timeout: float
) -> DrainReport:
    """Wait until each task has a final state in the result backend; report them."""
    deadline = time.monotonic() + timeout
    while True:
        metas = {task_id: task_result(run_redis, task_id) for task_id in task_ids}
        pending = [i for i in task_ids if metas[i].get("status") not in _FINAL]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    outcomes = [
        TaskOutcome(
            id=task_id,
            name="",
            state=_FINAL[str(metas[task_id]["status"])],
            result=metas[task_id].get("result"),
            error=error_text(metas[task_id])
            if metas[task_id]["status"] == "FAILURE"
            else None,
        )
        for task_id in task_ids
        if task_id not in pending
    ]
    client = database(run_redis, BROKER_DB)
    try:
        size = int(client.llen(queue))
    finally:
        client.close()
    return DrainReport(queue, outcomes, list(outcomes), pending, size)


def until(check: Callable[[], bool], *, timeout: float, step: float = 0.05) -> bool:
    """Poll `check` until it holds or `timeout` seconds pass; return the last."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


class Worker:
    """One `celery worker` process of the shop, started by `Workers.start`."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        queues: Sequence[str],
        *,
        log: Path,
        sandboxed: bool,
    ) -> None:
        self.process = process
        self.queues = tuple(queues)
        self.log = log
        self.sandboxed = sandboxed

    @property
    def pid(self) -> int:
        """Return the pid of the process at the root of the worker's tree."""
        return self.process.pid

    def kill(self) -> None:
        """Kill the worker's whole tree at once, as a crash or the OOM killer would.

        No warm shutdown runs: a message it took and did not acknowledge stays
        unacknowledged on the broker.
        """
        if self.process.poll() is None:
            # A sandboxed worker is its bwrap process, whose pid namespace
            # dies with it; an unsandboxed one leads its own session.
            with contextlib.suppress(ProcessLookupError):
                if self.sandboxed:
                    self.process.kill()
                else:
                    os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def runs_ended(self, task_id: str) -> int:
        """Count the runs of `task_id` the worker logged as ended, any outcome.

        The shop's own words, fit only to tell when to stop waiting.
        """
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return 0
        return len(re.findall(rf"\[{re.escape(task_id)}\] (?:succeeded|raised)", text))

    def log_tail(self, lines: int = 15) -> str:
        """Return the end of what the worker printed."""
        try:
            text = self.log.read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        except OSError:
            return ""


def _consuming(log: CommandLog, queues: Iterable[str]) -> bool:
    wanted = {queue.encode() for queue in queues}
    return any(
        command.db == BROKER_DB
        and command.name == "BRPOP"
        and wanted <= set(command.args[:-1])
        for command in list(log.commands)
    )


class Workers:
    """The workers one test starts; `stop_all()` kills those still running."""

    def __init__(self, run: ShopRun) -> None:
        self.run = run
        self.started: list[Worker] = []
        self.logs = run.plan.folder / "workers"
        self.logs.mkdir(exist_ok=True)

    def start(
        self,
        queues: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        pool: str = "solo",
        timeout: float = 60,
    ) -> Worker:
        """Start a worker on `queues`; return once Redis sees it wait on them."""
        assert self.run.redis is not None
        number = len(self.started) + 1
        argv = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            f"--pool={pool}", "--concurrency=1", "--queues", ",".join(queues),
            "--hostname", f"course-{number}@%h",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
            "--loglevel", "INFO",
        ]  # fmt: skip
        path = self.logs / f"worker-{number}-{uuid.uuid4().hex[:6]}.log"
        with self.run.redis.commands_watch() as log, path.open("wb") as output:
            process = self.run.spawn(argv, env=env, output=output)
            worker = Worker(
                process, queues, log=path, sandboxed=self.run.sandbox is not None
            )
            self.started.append(worker)
            ready = until(
                lambda: _consuming(log, queues) or process.poll() is not None,
                timeout=timeout,
            )
        if not ready or process.poll() is not None:
            worker.kill()
            raise WorkerError(
                f"The shop's Celery worker for {', '.join(queues)} did not start "
                f"consuming within {timeout:g} s. Its output ends with:\n"
                f"{worker.log_tail()}"
            )
        return worker

    def stop_all(self) -> None:
        """Kill every worker started; safe to call twice."""
        for worker in self.started:
            worker.kill()

    def sent_by_worker(self, pids: Sequence[int]) -> bool:
        """Tell whether a process chain (`ReceivedMail.pids`) is a worker's."""
        return any(worker.pid in pids for worker in self.started)
