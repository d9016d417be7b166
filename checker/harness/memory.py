"""The memory one request adds to the shop, as the kernel accounts it.

In a sandbox, the run's memory cgroup counts the whole process tree; a
learner's own check has no cgroup, so the shop process's own peak resident
set (`VmHWM`, reset through `/proc/<pid>/clear_refs`) stands in. Either way
the figure is the peak above what the shop held before the request, read
by the trusted side, never reported by the shop.

A peak above the memory held before a request can be hidden by holding
ballast and freeing it during the request, so the memory held before the
request (`resident_bytes()`) is reported too, for budgets to bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

__all__ = ["MemoryGauge", "ProcessMemory", "TreeMemory"]


class MemoryGauge(Protocol):
    """Reset before a request, read after it."""

    def reset_peak(self) -> None: ...

    def peak_memory_bytes(self) -> int | None: ...

    def resident_bytes(self) -> int | None: ...


def _resident(pids: list[int]) -> int | None:
    """Return the resident set of processes summed, from /proc (Linux)."""
    sizes = [_status_kib(pid, "VmRSS") for pid in pids]
    known = [size for size in sizes if size is not None]
    return sum(known) * 1024 if known else None


def _status_kib(pid: int, field: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


class ProcessMemory:
    """One process's peak resident set above its size when reset (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._baseline: int | None = None

    def reset_peak(self) -> None:
        """Reset the kernel's peak to the current size, and remember it."""
        try:
            # "5" resets the peak resident set size (proc(5), clear_refs).
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            self._baseline = None
            return
        now = _status_kib(self.pid, "VmRSS")
        self._baseline = now * 1024 if now is not None else None

    def peak_memory_bytes(self) -> int | None:
        """Return the peak since the reset, above the size at the reset."""
        peak = _status_kib(self.pid, "VmHWM")
        if peak is None or self._baseline is None:
            return None
        return max(0, peak * 1024 - self._baseline)

    def resident_bytes(self) -> int | None:
        """Return what the process holds in memory now."""
        return _resident([self.pid])


class _Account(Protocol):
    def reset_peak(self) -> None: ...

    def peak_memory_bytes(self) -> int | None: ...

    def pids(self) -> list[int]: ...


class TreeMemory:
    """A sandbox's whole process tree, from its memory cgroup."""

    def __init__(self, account: _Account) -> None:
        self.account = account
        self._baseline: int | None = None

    def reset_peak(self) -> None:
        """Reset the cgroup's peak and remember the tree's current usage."""
        self.account.reset_peak()
        # A reset peak starts at the current usage (v1 and v2 alike).
        self._baseline = self.account.peak_memory_bytes()

    def peak_memory_bytes(self) -> int | None:
        """Return the tree's peak since the reset, above its usage then."""
        peak = self.account.peak_memory_bytes()
        if peak is None or self._baseline is None:
            return None
        return max(0, peak - self._baseline)

    def resident_bytes(self) -> int | None:
        """Return what the tree's processes hold in memory now (no page cache)."""
        return _resident(self.account.pids())
