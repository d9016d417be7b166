"""Run inside the checker's Celery worker: its test settings and its reports.

`checker.worker` starts `celery worker --include checker.worker_inside`;
imported there, this module reports each task run to Redis, where the test
process reads it, and applies the settings a test asked for in the worker's
environment:

- `CHECKER_MAIL_FAILURES=<n>`: the first n email sends fail (`checker.mail`).
- `CHECKER_WORKER_PAUSE=<task>=<seconds>[,...]`: report the task started, then
  wait that long before its body runs, so a test can kill the worker mid-task.
- `CHECKER_BROKER_VISIBILITY_TIMEOUT=<seconds>`: on Redis, hand a message that
  a killed worker left unacknowledged to the next worker after that long.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import redis

__all__ = [
    "OUTCOMES_KEY_ENV",
    "OUTCOMES_URL_ENV",
    "PAUSE_ENV",
    "QUEUE_ENV",
    "VISIBILITY_TIMEOUT_ENV",
    "outcomes_client",
    "unacked_keys",
]

PAUSE_ENV = "CHECKER_WORKER_PAUSE"
VISIBILITY_TIMEOUT_ENV = "CHECKER_BROKER_VISIBILITY_TIMEOUT"
# Set only in the worker's environment: where to report outcomes, under which
# key, and the queue the worker consumes.
OUTCOMES_URL_ENV = "CHECKER_WORKER_OUTCOMES_URL"
OUTCOMES_KEY_ENV = "CHECKER_WORKER_OUTCOMES_KEY"
QUEUE_ENV = "CHECKER_WORKER_QUEUE"
# Outcomes live in their own Redis database so that `cache.clear()` (which
# flushes the cache's database) never erases them.
_OUTCOMES_DB = 2
_STATES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}


def outcomes_client(url: str) -> redis.Redis:
    """Return a client on the outcomes database of the Redis at `url`."""
    options = redis.connection.parse_url(url)  # type: ignore[no-untyped-call]
    options["db"] = _OUTCOMES_DB
    return redis.Redis(connection_pool=redis.ConnectionPool(**options))


def unacked_keys(queue: str) -> dict[str, str]:
    """Return the Redis transport's keys for unacknowledged messages of `queue`.

    By default every worker on a Redis broker shares one set, and a worker
    with a short visibility timeout would hand back the in-flight messages of
    every other worker on that Redis; a set per queue keeps it to its own.
    """
    return {
        "unacked_key": f"unacked:{queue}",
        "unacked_index_key": f"unacked_index:{queue}",
        "unacked_mutex_key": f"unacked_mutex:{queue}",
    }


def _transport_options(queue: str) -> dict[str, Any]:
    """Return the Redis transport options of a worker consuming `queue`."""
    options: dict[str, Any] = dict(unacked_keys(queue))
    timeout = os.environ.get(VISIBILITY_TIMEOUT_ENV)
    if timeout:
        # The Redis transport hands an unacknowledged message back to its
        # queue once it is older than `visibility_timeout`, when a worker
        # sweeps: as it starts consuming, then every `unacked_restore_interval`
        # seconds, scanning on every `unacked_restore_throttle`-th sweep only
        # (by default 10 and 10: every 100 s). Sweep every second instead.
        options.update(
            visibility_timeout=float(timeout),
            unacked_restore_interval=1,
            unacked_restore_throttle=1,
        )
    return options


def _pauses() -> dict[str, float]:
    """Read `CHECKER_WORKER_PAUSE`: task short name to seconds."""
    pauses: dict[str, float] = {}
    for item in os.environ.get(PAUSE_ENV, "").split(","):
        name, _, seconds = item.partition("=")
        if name.strip():
            pauses[name.strip()] = float(seconds or 0)
    return pauses


def _outbox_size() -> int:
    from django.core import mail

    return len(getattr(mail, "outbox", []))


def _emails_since(count: int) -> list[dict[str, Any]]:
    from django.core import mail

    return [
        {"subject": message.subject, "to": list(message.to)}
        for message in getattr(mail, "outbox", [])[count:]
    ]


def _run_pending_callbacks() -> None:
    """Run what the worker's event loop has queued, as its next turn would.

    The solo pool runs a task inside the event loop, so the acknowledgement of
    an early-acked task waits there until the task returns. With a process
    pool, as in production, it leaves while the task runs; send it before a
    pause so that a kill loses exactly the messages it would lose there.
    """
    from kombu.asynchronous import get_event_loop

    hub: Any = get_event_loop()
    if hub is not None:
        for callback in hub._pop_ready():
            if callback:
                callback()


def _connect_settings() -> None:
    """Apply the worker's test settings before it connects to the broker."""
    from celery import signals

    @signals.worker_init.connect(weak=False)
    def configure(sender: Any = None, **_: Any) -> None:
        # Django is set up by now: the Celery fixup did it before importing
        # the task modules and this one.
        from django.conf import settings

        from checker.mail import FAILURES_ENV

        if os.environ.get(FAILURES_ENV):
            settings.EMAIL_BACKEND = "checker.mail.FlakyEmailBackend"
        conf = sender.app.conf
        if conf.broker_url and conf.broker_url.startswith(("redis", "rediss")):
            conf.broker_transport_options = {
                **(conf.broker_transport_options or {}),
                **_transport_options(os.environ[QUEUE_ENV]),
            }


def _connect_reporting() -> None:
    """Report each task run from inside the worker process."""
    from celery import signals

    client = outcomes_client(os.environ[OUTCOMES_URL_ENV])
    key = os.environ[OUTCOMES_KEY_ENV]
    pauses = _pauses()
    started: dict[str, tuple[float, int]] = {}

    def report(**fields: Any) -> None:
        client.rpush(key, json.dumps(fields, default=repr))

    @signals.worker_ready.connect(weak=False)
    def ready(**_: Any) -> None:
        client.set(f"{key}:ready", os.getpid())

    @signals.task_prerun.connect(weak=False)
    def prerun(task_id: str, task: Any, **_: Any) -> None:
        pause = pauses.get(task.name.rsplit(".", 1)[-1])
        if pause is not None:
            _run_pending_callbacks()
            report(id=task_id, name=task.name, state="started")
            time.sleep(pause)
        started[task_id] = (time.perf_counter(), _outbox_size())

    @signals.task_postrun.connect(weak=False)
    def postrun(task_id: str, task: Any, retval: Any, state: str, **_: Any) -> None:
        start, outbox = started.pop(task_id, (time.perf_counter(), _outbox_size()))
        failed = isinstance(retval, BaseException)
        report(
            id=task_id,
            name=task.name,
            state=_STATES.get(state, state.lower()),
            result=None if failed else retval,
            error=repr(retval) if failed else None,
            runtime=time.perf_counter() - start,
            retries=task.request.retries or 0,
            emails=_emails_since(outbox),
        )

    @signals.task_unknown.connect(weak=False)
    def unknown(name: str, id: str, exc: BaseException, **_: Any) -> None:
        report(id=id, name=name, state="unknown", error=repr(exc))


if os.environ.get(OUTCOMES_URL_ENV) and os.environ.get(OUTCOMES_KEY_ENV):
    _connect_settings()
    _connect_reporting()
