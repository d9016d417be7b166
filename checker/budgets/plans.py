"""Plan budgets: a query uses an index, a table is never read sequentially."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checker.budgets import Budget, Verdict
from checker.budgets.queries import label_of
from checker.plans import Plan

__all__ = ["NoSeqScan", "UsesIndex", "no_seq_scan", "uses_index"]

_INDEX_FIX = (
    "Try an index on the filtered or ordered columns (db_index=True or "
    "Meta.indexes), then ANALYZE so the planner knows the table."
)


def _plan_sentence(plan: Plan) -> str:
    origin = f" — from {plan.query.origin}" if plan.query.origin else ""
    scans = "; ".join(str(scan) for scan in plan.scans) or "no table scans"
    return f"{plan.query.short} -> {scans}{origin}"


@dataclass(repr=False)
class UsesIndex(Budget):
    """Some captured SELECT reads the named index."""

    index: str = ""
    analyze: bool = False

    def describe(self) -> str:
        """Return the budget in words."""
        return f"uses index {self.index}"

    def check(self, subject: Any) -> Verdict:
        """Explain the captured SELECTs and look for the index."""
        plans = subject.plans(analyze=self.analyze)
        label = label_of(subject)
        using = [plan for plan in plans if plan.uses_index(self.index)]
        if using:
            message = (
                f"{label} used index {self.index} (budget: {self.describe()}). "
                f"{_plan_sentence(using[0])}."
            )
            return Verdict(
                self.describe(), True, "used", message, using[0].to_dict(), self.points
            )
        seen = "; ".join(_plan_sentence(plan) for plan in plans[:3]) or "no SELECTs"
        message = (
            f"{label} did not use index {self.index} (budget: {self.describe()}). "
            f"Plans: {seen}. {_INDEX_FIX}"
        )
        diagnosis = {"plans": [plan.to_dict() for plan in plans]}
        return Verdict(
            self.describe(), False, "not used", message, diagnosis, self.points
        )


@dataclass(repr=False)
class NoSeqScan(Budget):
    """No captured SELECT reads the named table with a sequential scan."""

    table: str = ""
    analyze: bool = False

    def describe(self) -> str:
        """Return the budget in words."""
        return f"no sequential scan on {self.table}"

    def check(self, subject: Any) -> Verdict:
        """Explain the captured SELECTs and look for Seq Scans on the table."""
        plans = subject.plans(analyze=self.analyze)
        label = label_of(subject)
        scanning = [plan for plan in plans if plan.seq_scans(self.table)]
        if not scanning:
            message = (
                f"{label} read {self.table} without a sequential scan "
                f"(budget: {self.describe()})."
            )
            return Verdict(
                self.describe(), True, "0 sequential scans", message, {}, self.points
            )
        message = (
            f"{label} read {self.table} with a sequential scan "
            f"(budget: {self.describe()}). {_plan_sentence(scanning[0])}. {_INDEX_FIX}"
        )
        measured = f"{len(scanning)} sequential scans"
        return Verdict(
            self.describe(),
            False,
            measured,
            message,
            scanning[0].to_dict(),
            self.points,
        )


def uses_index(index: str, *, analyze: bool = False) -> UsesIndex:
    """Budget at least one SELECT reading the named index."""
    return UsesIndex(index=index, analyze=analyze)


def no_seq_scan(table: str, *, analyze: bool = False) -> NoSeqScan:
    """Budget no sequential scan on the named table."""
    return NoSeqScan(table=table, analyze=analyze)
