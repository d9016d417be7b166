"""Budgets asserted around a block or a scenario, for a project's own tests.

    with within_budget(cache_hits_at_least(1), queries_at_most(2), label="home"):
        client.get("/")

    assert_queries_constant(lambda n: make_posts(n), lambda: client.get("/posts/"),
                            noun="posts")

Each raises `BudgetExceeded` with the budget's message when it is not met.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from checker.budgets import Budget, assert_within
from checker.budgets.queries import QueryCount
from checker.growth import Growth, measure_growth
from checker.measure import Measurement, measure

__all__ = ["assert_queries_constant", "within_budget"]


def assert_queries_constant(
    build: Callable[[int], Any],
    scenario: Callable[[], Any],
    *,
    noun: str = "rows",
    sizes: tuple[int, int] = (5, 20),
    at_most: int | None = None,
    label: str = "",
    **options: Any,
) -> Growth:
    """Run `scenario()` after `build(n)` at two sizes; fail if its queries grow.

    `at_most` also bounds the count at the larger size. Each size runs in a
    transaction rolled back after it (see `measure_growth`).
    """
    growth = measure_growth(
        build, scenario, sizes=sizes, noun=noun, label=label, **options
    )
    assert_within(growth, QueryCount(at_most=at_most, constant_in=noun))
    return growth


@contextmanager
def within_budget(
    *budgets: Budget, label: str = "", **options: Any
) -> Iterator[Measurement]:
    """Measure the block, then assert every budget on it.

    Options go to `measure()`; memory is traced only when asked for.
    """
    if not budgets:
        raise TypeError("within_budget() needs at least one budget to check")
    options.setdefault("memory", False)
    with measure(label, **options) as measurement:
        yield measurement
    assert_within(measurement, *budgets)
