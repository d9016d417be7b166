"""Measure the wall time, CPU time and Python memory peak of a block."""

from __future__ import annotations

import time
import tracemalloc
from types import TracebackType
from typing import Any, Self

from checker.recorders import Recorder

__all__ = ["ResourceRecorder", "format_bytes"]


def format_bytes(size: int) -> str:
    """Return a size for people, e.g. "12.3 MiB"."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if abs(value) < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class ResourceRecorder(Recorder):
    """Record wall time, CPU time and, optionally, the tracemalloc peak.

    The peak is the most Python memory held at once during the block, above
    what was held when it started. Tracing slows Python code down severalfold,
    so it is optional and timings taken with it on are not comparable with
    timings taken without.
    """

    def __init__(self, *, memory: bool = True) -> None:
        self.memory = memory
        self.wall_time = 0.0
        self.cpu_time = 0.0
        self.peak_bytes: int | None = None
        self._started_tracing = False
        self._baseline = 0

    def __enter__(self) -> Self:
        if self.memory:
            if not tracemalloc.is_tracing():
                tracemalloc.start()
                self._started_tracing = True
            tracemalloc.reset_peak()
            self._baseline = tracemalloc.get_traced_memory()[0]
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.wall_time = time.perf_counter() - self._wall
        self.cpu_time = time.process_time() - self._cpu
        if self.memory:
            peak = tracemalloc.get_traced_memory()[1]
            self.peak_bytes = max(0, peak - self._baseline)
            if self._started_tracing:
                tracemalloc.stop()

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as plain JSON data."""
        return {
            "wall_ms": round(self.wall_time * 1000, 3),
            "cpu_ms": round(self.cpu_time * 1000, 3),
            "peak_bytes": self.peak_bytes,
        }
