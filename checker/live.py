"""A live line for a long notebook cell: the seconds spent and the memory traced."""

from __future__ import annotations

import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from checker.resources import format_bytes

__all__ = ["ticking"]

TICK_SECONDS = 0.5


def _line(label: str, started: float) -> str:
    line = f"{label}: {time.perf_counter() - started:.0f} s"
    if tracemalloc.is_tracing():
        line += f", {format_bytes(tracemalloc.get_traced_memory()[0])} traced"
    return line


def _writer() -> tuple[Callable[[str], None], Callable[[str], None]]:
    """Return how to show a line as it changes, and how to leave the last one."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        handle = display("", display_id=True)  # type: ignore[no-untyped-call]

        def show(text: str) -> None:
            handle.update({"text/plain": text}, raw=True)

        return show, show

    def rewrite(text: str) -> None:
        sys.stderr.write(f"\r{text}")
        sys.stderr.flush()

    return rewrite, lambda text: rewrite(f"{text}\n")


@contextmanager
def ticking(label: str) -> Iterator[None]:
    """Show `label` with the seconds spent, and the memory traced, until the block ends.

    For a cell that runs for many seconds (a whole export under memory
    tracing, say): the learner sees it work, and sees the memory grow.
    """
    show, leave = _writer()
    started = time.perf_counter()
    done = threading.Event()

    def tick() -> None:
        while not done.wait(TICK_SECONDS):
            show(_line(label, started))

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        leave(f"{_line(label, started)}, done")
