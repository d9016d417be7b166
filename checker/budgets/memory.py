"""Memory budget: the Python memory peak of a measured block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checker.budgets import Budget, Verdict
from checker.budgets.queries import label_of
from checker.resources import format_bytes

__all__ = ["MemoryPeak", "memory_at_most"]


@dataclass(repr=False)
class MemoryPeak(Budget):
    """The memory peak stays at or below a number of bytes.

    The peak is tracemalloc's, or the kernel's for a shop driven apart
    (`peak_kind` on the measurement says which).
    """

    limit: int = 0

    def describe(self) -> str:
        """Return the budget in words."""
        return f"at most {format_bytes(self.limit)}"

    def check(self, subject: Any) -> Verdict:
        """Compare the measured peak with the limit."""
        label = label_of(subject)
        peak = subject.peak_bytes
        if peak is None:
            message = (
                f"{label} was measured without memory tracing "
                f"(budget: {self.describe()}). Measure with memory=True."
            )
            return Verdict(self.describe(), False, "unknown", message, {}, self.points)
        met = peak <= self.limit
        kind = getattr(subject, "peak_kind", "Python memory")
        message = (
            f"{label} peaked at {format_bytes(peak)} of {kind} "
            f"(budget: {self.describe()})."
        )
        if not met:
            message += (
                " Stream rows with iterator() or values_list() instead of "
                "holding every object at once."
            )
        return Verdict(
            self.describe(),
            met,
            format_bytes(peak),
            message,
            {"peak_bytes": peak},
            self.points,
        )


def memory_at_most(*, mib: float = 0, kib: float = 0) -> MemoryPeak:
    """Budget a memory peak of at most `mib` MiB plus `kib` KiB."""
    return MemoryPeak(limit=int(mib * 1024 * 1024 + kib * 1024))
