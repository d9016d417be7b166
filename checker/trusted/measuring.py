"""A budget of the trusted tests: no per-row query through named relations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checker.budgets import Budget, Verdict
from checker.budgets.queries import describe_group, label_of
from checker.growth import Growth

__all__ = ["NoQueryPerRowVia", "no_query_per_row_via"]


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
