"""The N+1 budget: no relation loaded row by row, but those the allow-list accepts.

One measurement is enough: an N+1 is a group of similar queries that followed
one relation from one call site, within one request, on rows of a queryset
(`QueryGroup.suspects`). Growth at two data sizes stays the stronger evidence
(`queries_constant`); this budget is what a test or the development server can
check on every block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checker.allowlist import Allowlist
from checker.budgets import Budget, Verdict
from checker.budgets.queries import describe_group, label_of
from checker.groups import QueryGroup
from checker.measure import Measurement
from checker.origins import ProjectCode

__all__ = ["NoNPlusOne", "n_plus_one_groups", "no_n_plus_one_queries"]


def n_plus_one_groups(
    measurement: Measurement, allowlist: Allowlist | None = None
) -> list[QueryGroup]:
    """Return the measurement's N+1s, largest first, leaving out allowed ones."""
    allowlist = allowlist if allowlist is not None else Allowlist.from_settings()
    allowlist.checked()
    project = _project_of(measurement)
    return [
        group
        for group in measurement.similar()
        if group.access is not None and allowlist.allowing(group, project) is None
    ]


def _project_of(measurement: Measurement) -> ProjectCode:
    recorder = measurement.recorder
    project = recorder.project if recorder is not None else None
    return project or ProjectCode.from_settings()


@dataclass(repr=False)
class NoNPlusOne(Budget):
    """No N+1 in one measurement, but those the allow-list accepts."""

    allowlist: Allowlist | None = field(default=None)

    def describe(self) -> str:
        """Return the budget in words."""
        return "no N+1"

    def check(self, subject: Any) -> Verdict:
        """Look for relations loaded once per row; name each with its fix."""
        groups = n_plus_one_groups(subject, self.allowlist)
        count = subject.query_count
        made = f"{count} {'query' if count == 1 else 'queries'}"
        label = label_of(subject)
        if not groups:
            message = f"{label} made {made} and no N+1 (budget: no N+1)."
            return Verdict(self.describe(), True, "no N+1", message, {}, self.points)
        found = f"{len(groups)} N+1" + ("s" if len(groups) > 1 else "")
        message = f"{label} made {made} (budget: no N+1). " + " ".join(
            describe_group(group, kind="similar") for group in groups
        )
        diagnosis = {"n_plus_ones": [group.to_dict() for group in groups]}
        return Verdict(self.describe(), False, found, message, diagnosis, self.points)


def no_n_plus_one_queries(*, allowlist: Allowlist | None = None) -> NoNPlusOne:
    """Budget no N+1 in one block; `allowlist` defaults to the setting's."""
    return NoNPlusOne(allowlist=allowlist)
