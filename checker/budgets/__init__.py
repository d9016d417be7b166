"""Budgets: what a measurement must stay within, checked as data or asserted.

A budget is an object with `check(subject) -> Verdict`; the subject is a
`checker.measure.Measurement` or a `checker.growth.Growth`. Verdicts are plain
data so a grader can give partial credit per budget; `assert_within` turns the
unmet ones into a `BudgetExceeded` whose message reads like a code review.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Self

__all__ = [
    "Budget",
    "BudgetExceeded",
    "Verdict",
    "assert_within",
    "check_all",
    "columns_not_fetched",
    "memory_at_most",
    "no_duplicate_queries",
    "no_n_plus_one_queries",
    "no_seq_scan",
    "observe_verdicts",
    "queries_at_most",
    "queries_constant",
    "queries_exactly",
    "uses_index",
]


class BudgetExceeded(AssertionError):
    """A measurement went over one or more of its budgets."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one budget against one measurement."""

    budget: str
    met: bool
    measured: str
    message: str
    diagnosis: dict[str, Any] = field(default_factory=dict)
    points: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as plain JSON data."""
        return asdict(self)


class Budget(ABC):
    """A limit a measurement must stay within."""

    points: float | None = None

    @abstractmethod
    def describe(self) -> str:
        """Return the budget in words, e.g. "at most 4 queries"."""

    @abstractmethod
    def check(self, subject: Any) -> Verdict:
        """Compare the subject with the budget."""

    def worth(self, points: float) -> Self:
        """Return a copy of this budget carrying points for partial credit."""
        clone = copy.copy(self)
        clone.points = points
        return clone

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"


_observers: list[Callable[[Verdict], None]] = []


@contextmanager
def observe_verdicts(callback: Callable[[Verdict], None]) -> Iterator[None]:
    """Call `callback` with every verdict checked inside the block."""
    _observers.append(callback)
    try:
        yield
    finally:
        _observers.remove(callback)


def check_all(subject: Any, *budgets: Budget) -> list[Verdict]:
    """Check every budget and return the verdicts, met or not."""
    verdicts = [budget.check(subject) for budget in budgets]
    for verdict in verdicts:
        for callback in list(_observers):
            callback(verdict)
    return verdicts


def assert_within(subject: Any, *budgets: Budget) -> list[Verdict]:
    """Check every budget; raise BudgetExceeded naming each one not met."""
    verdicts = check_all(subject, *budgets)
    failures = [verdict.message for verdict in verdicts if not verdict.met]
    if failures:
        raise BudgetExceeded("\n\n".join(failures))
    return verdicts


# The concrete budgets import the base classes above, so they come last.
from checker.budgets.memory import memory_at_most  # noqa: E402
from checker.budgets.nplusone import no_n_plus_one_queries  # noqa: E402
from checker.budgets.plans import no_seq_scan, uses_index  # noqa: E402
from checker.budgets.queries import (  # noqa: E402
    columns_not_fetched,
    no_duplicate_queries,
    queries_at_most,
    queries_constant,
    queries_exactly,
)
