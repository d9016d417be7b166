"""Measure the shop under test, pointing at its files, and one budget of its own.

The runner copies or points at the learner's shop and sets COURSE_ROOT to
it; measuring with `ProjectCode(base=project_root())` makes every diagnosis
name `shop_app/...:line` relative to that shop wherever it lives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from checker.budgets import Budget, Verdict
from checker.budgets.queries import describe_group, label_of
from checker.growth import Growth, measure_growth
from checker.measure import Measurement, measure
from checker.queries import ProjectCode
from checker.services.layout import project_root

__all__ = [
    "NoQueryPerRowVia",
    "grow",
    "measured",
    "no_query_per_row_via",
    "recorders_warm",
    "shop_code",
]

SIZES = (4, 12)


def shop_code() -> ProjectCode:
    """Return the shop under test as the code queries are attributed to."""
    return ProjectCode(roots=("shop_app",), base=project_root())


def grow(
    build: Callable[[int], Any],
    scenario: Callable[[], Any],
    *,
    noun: str,
    label: str,
    sizes: tuple[int, int] = SIZES,
) -> Growth:
    """Measure `scenario` after `build(n)` for both sizes, each rolled back."""
    return measure_growth(
        build, scenario, sizes=sizes, noun=noun, label=label, project=shop_code()
    )


@contextmanager
def measured(label: str, **options: Any) -> Iterator[Measurement]:
    """Measure a block with the shop under test as the project code."""
    with measure(label, project=shop_code(), **options) as measurement:
        yield measurement


def recorders_warm() -> None:
    """Measure nothing once, so that no memory budget counts the recorders.

    The first measurement of a process imports the cache and task recorders
    (Celery among them): megabytes that belong to no shop code.
    """
    with measure("warm-up", memory=True, project=shop_code()):
        pass


@dataclass(repr=False)
class NoQueryPerRowVia(Budget):
    """No query that grows with the rows follows one of the named relations.

    A page can have several N+1s; an exercise that removes some of them is
    graded on those alone, and the others stay for a later lesson.
    """

    relations: tuple[str, ...] = ()

    def describe(self) -> str:
        """Return the budget in words."""
        return "no query per row via " + " or ".join(self.relations)

    def check(self, subject: Any) -> Verdict:
        """Look for grown groups of queries attributed to the relations."""
        growth: Growth = subject
        # A group that grows and that no relation explains could be any of
        # them: a shop whose own report names none must not pass for that.
        grown = [
            (group, before)
            for group, before in growth.grown_groups()
            if group.access is None or str(group.access) in self.relations
        ]
        label = label_of(growth)
        small, large = growth.counts
        (few, many), noun = growth.sizes, growth.noun
        if not grown:
            message = (
                f"{label} made no query per row via {' or '.join(self.relations)}"
                f" (budget: {self.describe()})."
            )
            return Verdict(self.describe(), True, "0 per row", message, {}, self.points)
        group, before = max(grown, key=lambda found: found[0].count)
        message = (
            f"{label} made {large} queries with {many} {noun} and {small} with"
            f" {few} {noun} (budget: {self.describe()}). {describe_group(group)}"
        )
        measured = f"{group.count} via {group.access} ({before} at {few} {noun})"
        return Verdict(
            self.describe(), False, measured, message, group.to_dict(), self.points
        )


def no_query_per_row_via(*relations: str) -> NoQueryPerRowVia:
    """Budget no per-row query through the given `Model.field` relations."""
    return NoQueryPerRowVia(relations=relations)
