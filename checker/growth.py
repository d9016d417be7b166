"""Run one scenario at two data sizes and tell whether its queries grow."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, transaction

from checker.groups import QueryGroup
from checker.measure import Measurement, measure

__all__ = ["Growth", "measure_growth"]


@dataclass
class Growth:
    """The same scenario measured with a small and a large data set."""

    label: str
    noun: str
    sizes: tuple[int, int]
    runs: tuple[Measurement, Measurement]

    @property
    def counts(self) -> tuple[int, int]:
        """Return the query counts at the small and the large size."""
        return self.runs[0].query_count, self.runs[1].query_count

    @property
    def grows(self) -> bool:
        """Tell whether the large data set took more queries than the small.

        The prefetch queries `iterator(chunk_size=...)` runs, one per chunk
        of rows, are its design and no N+1: they do not count as growth.
        """
        return bool(self.grown_groups())

    @property
    def per_row(self) -> float:
        """Return the extra queries per extra row between the two sizes."""
        extra = sum(group.count - before for group, before in self.grown_groups())
        return extra / (self.sizes[1] - self.sizes[0])

    @property
    def verdict(self) -> str:
        """Say in words whether the count is constant or grows."""
        if not self.grows:
            small, large = self.counts
            chunks = " but for one prefetch per chunk of iterator()"
            return f"constant in the number of {self.noun}{chunks * (large > small)}"
        return f"grows with the number of {self.noun} (~{self.per_row:.3g} per row)"

    @property
    def large(self) -> Measurement:
        """Return the measurement at the large size."""
        return self.runs[1]

    def grown_groups(self) -> list[tuple[QueryGroup, int]]:
        """Return the large run's groups that grew, with their small-run count."""
        small = {(g.alias, g.normalised): g.count for g in self.runs[0].groups()}
        grown = [
            (group, small.get((group.alias, group.normalised), 0))
            for group in self.runs[1].groups()
        ]
        return [
            (group, before)
            for group, before in grown
            if group.count > before and not group.chunked
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return both runs and the verdict as plain JSON data."""
        return {
            "label": self.label,
            "noun": self.noun,
            "sizes": list(self.sizes),
            "counts": list(self.counts),
            "grows": self.grows,
            "verdict": self.verdict,
            "grown": [
                {**group.to_dict(), "small_count": before}
                for group, before in self.grown_groups()
            ],
            "runs": [run.to_dict() for run in self.runs],
        }


def measure_growth(
    build: Callable[[int], Any],
    scenario: Callable[[], Any],
    *,
    sizes: tuple[int, int] = (5, 20),
    noun: str = "rows",
    label: str = "",
    isolate: bool = True,
    **options: Any,
) -> Growth:
    """Build data of each size with `build(n)`, then measure `scenario()`.

    With `isolate`, each size runs inside a transaction (a savepoint under a
    test) that is rolled back, so `build` may simply create `n` rows. Caches
    are not rolled back: a scenario that caches must clear them in `build`.
    Options go to `measure()`; memory tracing is off unless asked for.
    """
    small, large = sizes
    if not 0 <= small < large:
        raise ValueError(f"sizes must grow, got {sizes!r}")
    options.setdefault("memory", False)
    runs: list[Measurement] = []
    for size in sizes:
        atomic = (
            transaction.atomic(using=DEFAULT_DB_ALIAS) if isolate else nullcontext()
        )
        with atomic:
            build(size)
            with measure(label, **options) as measurement:
                scenario()
            if isolate:
                transaction.set_rollback(True, using=DEFAULT_DB_ALIAS)
        runs.append(measurement)
    return Growth(label, noun, (small, large), (runs[0], runs[1]))
