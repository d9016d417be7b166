"""Where the shop's tasks are defined, and queues no worker consumes.

A test that only checks what a request publishes sends it to a queue of its
own, so that no worker, the learner's included, ever runs those messages.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from checker.trusted.measuring import shop_code
from checker.worker import queue_remove

__all__ = ["queue_aside", "task_site"]


def task_site(task: Any) -> str:
    """Return `shop_app/...:line` where a task is defined."""
    function = inspect.unwrap(task.run)
    _, line = inspect.getsourcelines(function)
    return f"{shop_code().relative(inspect.getsourcefile(function) or '')}:{line}"


@contextmanager
def queue_aside() -> Iterator[str]:
    """Name a queue no worker consumes; remove it and its messages after."""
    name = f"checker-aside-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        queue_remove(name)
