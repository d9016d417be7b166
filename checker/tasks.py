"""Record the Celery tasks published, and those run inline in this process.

A task is published when a message leaves for the broker
(`before_task_publish`). It runs inline when its body executes here: a direct
call `task(...)`, `.apply()`, or eager mode. Each publish says whether it left
from inside a transaction (and whether that transaction later committed or
rolled back) or from an on-commit callback.

The methods and signal that see this are hooked once, on the first recording,
and stay: while nothing records, they call straight through.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from types import FrameType, TracebackType
from typing import Any, Self

from celery.app.task import Task
from celery.signals import before_task_publish
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from checker.origins import call_site
from checker.recorders import Recorder

__all__ = ["InlineTask", "PublishedTask", "TaskRecorder"]

# Frames that run on-commit callbacks: Django after a commit, and the test
# helper that runs them inside the test's own transaction.
_COMMIT_HOOK_FRAMES = {"run_and_clear_commit_hooks", "captureOnCommitCallbacks"}


@dataclass
class PublishedTask:
    """A task message sent to the broker."""

    name: str
    id: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str
    call_site: str | None
    on_commit: bool
    in_transaction: bool
    # "none", "on commit", "open", "committed" or "rolled back".
    transaction: str
    _sids: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)


@dataclass
class InlineTask:
    """A task body executed in this process instead of by a worker."""

    name: str
    id: str | None
    # "direct" for `task(...)`, "apply" for `.apply()` and eager mode.
    mode: str
    args: list[Any]
    kwargs: dict[str, Any]
    call_site: str | None
    duration: float = 0.0
    error: str | None = None


_lock = threading.Lock()
_state = threading.local()
_active: list[TaskRecorder] = []
# Installed once, the hooks stay: changing a class invalidates CPython's
# attribute caches, and the code that runs next (measured or not) pays for it.
_installed = False


def _in_commit_hook() -> bool:
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name in _COMMIT_HOOK_FRAMES:
            return True
        frame = frame.f_back
    return False


def _open_transactions(
    baseline: dict[str, int],
) -> dict[str, tuple[str, ...]]:
    """Return, per connection deeper than its baseline, the savepoints beyond it."""
    opened: dict[str, tuple[str, ...]] = {}
    for connection in connections.all(initialized_only=True):
        depth = len(connection.atomic_blocks)
        start = baseline.get(connection.alias, 0)
        if depth > start:
            # The outermost block has no savepoint id, so block n owns id n-1.
            beyond = connection.savepoint_ids[max(start - 1, 0) :]
            opened[connection.alias] = tuple(sid for sid in beyond if sid)
    return opened


def _on_publish(
    sender: str | None = None,
    body: Any = None,
    headers: dict[str, Any] | None = None,
    routing_key: str | None = None,
    **_: Any,
) -> None:
    if not _active:
        return
    headers = headers or {}
    args, kwargs = ([], {})
    if isinstance(body, list | tuple) and len(body) >= 2:
        args, kwargs = list(body[0]), dict(body[1])
    on_commit = _in_commit_hook()
    site = call_site(sys._getframe(1))
    with _lock:
        for recorder in _active:
            opened = _open_transactions(recorder._baseline)
            recorder.published.append(
                PublishedTask(
                    name=str(headers.get("task", sender)),
                    id=str(headers.get("id", "")),
                    args=args,
                    kwargs=kwargs,
                    queue=str(routing_key or ""),
                    call_site=site,
                    on_commit=on_commit,
                    in_transaction=bool(opened),
                    transaction="open" if opened else (
                        "on commit" if on_commit else "none"
                    ),
                    _sids=opened,
                )
            )  # fmt: skip


def _record_call(original: Any) -> Any:
    # Celery's tracer calls `task(...)` instead of `task.run(...)` when
    # `__call__` comes from outside celery.app.task, so this wrapper also sees
    # `.apply()` and eager runs, not only direct calls.
    @functools.wraps(original)
    def __call__(self: Task, *args: Any, **kwargs: Any) -> Any:  # type: ignore[type-arg]
        if not _active:
            return original(self, *args, **kwargs)
        depth = getattr(_state, "depth", 0)
        if depth:
            return original(self, *args, **kwargs)
        request_id = self.request.id
        inline = InlineTask(
            name=str(self.name),
            id=request_id,
            mode="apply" if request_id else "direct",
            args=list(args),
            kwargs=dict(kwargs),
            call_site=call_site(sys._getframe(1)),
        )
        _state.depth = depth + 1
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        except Exception as error:
            inline.error = repr(error)
            raise
        finally:
            _state.depth = depth
            inline.duration = time.perf_counter() - start
            with _lock:
                for recorder in _active:
                    recorder.inline.append(inline)

    __call__.__module__ = __name__
    return __call__


def _settle(outcome: str, alias: str, sid: str | None = None) -> None:
    with _lock:
        for recorder in _active:
            for task in recorder.published:
                sids = task._sids.get(alias)
                if task.transaction != "open" or sids is None:
                    continue
                if sid is None or sid in sids:
                    task.transaction = outcome
                    task._sids = {}


def _record_transactions(name: str, original: Any) -> Any:
    @functools.wraps(original)
    def settled(self: BaseDatabaseWrapper, *args: Any) -> Any:
        result = original(self, *args)
        if not _active:
            return result
        if name == "commit":
            _settle("committed", self.alias)
        elif name == "rollback":
            _settle("rolled back", self.alias)
        else:
            _settle("rolled back", self.alias, sid=args[0])
        return result

    return settled


def _install() -> None:
    global _installed
    Task.__call__ = _record_call(vars(Task)["__call__"])  # type: ignore[method-assign]
    for name in ("commit", "rollback", "savepoint_rollback"):
        original = vars(BaseDatabaseWrapper)[name]
        setattr(BaseDatabaseWrapper, name, _record_transactions(name, original))
    before_task_publish.connect(_on_publish, weak=False, dispatch_uid=__name__)
    _installed = True


class TaskRecorder(Recorder):
    """Record the tasks published and run inline while the block runs."""

    def __init__(self) -> None:
        self.published: list[PublishedTask] = []
        self.inline: list[InlineTask] = []
        self._baseline: dict[str, int] = {}

    def __enter__(self) -> Self:
        # Tests already run inside transactions of their own; only blocks
        # opened after this point count as the code's transactions.
        self._baseline = {
            connection.alias: len(connection.atomic_blocks)
            for connection in connections.all(initialized_only=True)
        }
        with _lock:
            if not _installed:
                _install()
            _active.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        still_open = _open_transactions(self._baseline)
        for task in self.published:
            if task.transaction == "open" and not set(task._sids) & set(still_open):
                # Its blocks closed without a rollback: released into the
                # test's own transaction, which is as committed as it gets.
                task.transaction = "committed"
        with _lock:
            _active.remove(self)

    def to_dict(self) -> dict[str, Any]:
        """Return the recording as plain JSON data."""

        def plain(record: Any) -> dict[str, Any]:
            data = {k: v for k, v in asdict(record).items() if not k.startswith("_")}
            return json.loads(json.dumps(data, default=repr))  # type: ignore[no-any-return]

        return {
            "published": [plain(task) for task in self.published],
            "inline": [plain(task) for task in self.inline],
        }
