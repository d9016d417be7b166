"""Query budgets: how many, constant with the data, no duplicates, lean SELECTs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checker.budgets import Budget, Verdict
from checker.groups import QueryGroup
from checker.growth import Growth
from checker.measure import Measurement

__all__ = [
    "ColumnsNotFetched",
    "NoDuplicateQueries",
    "QueryCount",
    "columns_not_fetched",
    "describe_group",
    "label_of",
    "no_duplicate_queries",
    "queries_at_most",
    "queries_constant",
    "queries_exactly",
]


def label_of(subject: Measurement | Growth) -> str:
    """Return what the message calls the measured code."""
    return subject.label or "The measured code"


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def describe_group(group: QueryGroup, *, kind: str | None = None) -> str:
    """Say where a group of queries comes from and what would remove it.

    A group whose queries all share their parameters is "identical" unless
    `kind` says otherwise; the fix then is to run the query once.
    """
    if kind is None:
        same = len({repr(query.params) for query in group.queries}) == 1
        kind = "identical" if same else "similar"
    text = f"{group.count} {kind}: {group.short}"
    origin = group.origin
    if origin is not None:
        text += f" — from {origin}"
    access = group.access
    if access is not None:
        text += f" via {access}"
    if kind == "identical":
        fix = group.fix() or "Run it once and reuse the result."
    else:
        fix = group.fix() or (
            "Fetch these rows in one query before the loop "
            "(filter(..._in=...) or prefetch_related)."
        )
    return f"{text}. {fix}"


def _listing(measurement: Measurement, limit: int = 5) -> str:
    lines = []
    for query in measurement.statements[:limit]:
        origin = f" — from {query.origin}" if query.origin else ""
        lines.append(f"{query.short}{origin}")
    more = measurement.query_count - limit
    if more > 0:
        lines.append(f"and {more} more")
    return "Queries: " + "; ".join(lines) + "."


@dataclass(repr=False)
class QueryCount(Budget):
    """At most (or exactly) N queries, optionally constant in the data size."""

    at_most: int | None = None
    exactly: int | None = None
    constant_in: str | None = None

    def describe(self) -> str:
        """Return the budget in words."""
        words = []
        if self.exactly is not None:
            words.append(f"exactly {self.exactly}")
        elif self.at_most is not None:
            words.append(f"at most {self.at_most}")
        if self.constant_in:
            words.append(f"constant in the number of {self.constant_in}")
        return ", ".join(words)

    def _within(self, count: int) -> bool:
        if self.exactly is not None:
            return count == self.exactly
        return self.at_most is None or count <= self.at_most

    def check(self, subject: Any) -> Verdict:
        """Count the queries; with a Growth, count the large run and compare."""
        if isinstance(subject, Growth):
            return self._check_growth(subject)
        if self.constant_in:
            raise TypeError("a budget constant in the data needs measure_growth()")
        count = subject.query_count
        met = self._within(count)
        made = _plural(count, "query", "queries")
        message = f"{label_of(subject)} made {made} (budget: {self.describe()})."
        diagnosis: dict[str, Any] = {}
        if not met:
            groups = subject.similar()
            if groups and not (self.exactly is not None and count < self.exactly):
                message += " " + describe_group(groups[0])
                diagnosis = groups[0].to_dict()
            else:
                message += " " + _listing(subject)
        return Verdict(self.describe(), met, made, message, diagnosis, self.points)

    def _check_growth(self, growth: Growth) -> Verdict:
        small, large = growth.counts
        noun = self.constant_in or growth.noun
        met = self._within(large) and not (self.constant_in and growth.grows)
        message = (
            f"{label_of(growth)} made {_plural(large, 'query', 'queries')} with "
            f"{growth.sizes[1]} {noun}"
            f" and {small} with {growth.sizes[0]} {noun} (budget: {self.describe()})."
        )
        diagnosis: dict[str, Any] = {}
        if not met:
            grown = growth.grown_groups()
            groups = [group for group, _ in grown] or growth.large.similar()
            if groups:
                group = max(groups, key=lambda found: found.count)
                message += " " + describe_group(group)
                diagnosis = group.to_dict()
            else:
                message += " " + _listing(growth.large)
        made = _plural(large, "query", "queries")
        measured = f"{made} ({small} at {growth.sizes[0]} {noun})"
        return Verdict(self.describe(), met, measured, message, diagnosis, self.points)


@dataclass(repr=False)
class NoDuplicateQueries(Budget):
    """No query runs twice with the same SQL and parameters."""

    def describe(self) -> str:
        """Return the budget in words."""
        return "no duplicates"

    def check(self, subject: Any) -> Verdict:
        """Look for queries repeated with identical parameters."""
        groups = subject.duplicates()
        repeats = sum(group.count - 1 for group in groups)
        label = label_of(subject)
        if not groups:
            message = f"{label} ran no query twice (budget: no duplicates)."
            return Verdict(
                self.describe(), True, "0 duplicates", message, {}, self.points
            )
        message = (
            f"{label} ran {_plural(repeats, 'duplicate query', 'duplicate queries')}"
            f" (budget: no duplicates). {describe_group(groups[0], kind='identical')}"
        )
        return Verdict(
            self.describe(),
            False,
            f"{repeats} duplicates",
            message,
            groups[0].to_dict(),
            self.points,
        )


@dataclass(repr=False)
class ColumnsNotFetched(Budget):
    """None of the named `table.column`s appears in any SELECT list."""

    columns: tuple[str, ...] = ()

    def describe(self) -> str:
        """Return the budget in words."""
        names = ", ".join(f"`{column}`" for column in self.columns)
        return f"{names} must not be fetched"

    def check(self, subject: Any) -> Verdict:
        """Read each SELECT list for the forbidden columns."""
        label = label_of(subject)
        fetched = {column: subject.fetching(column) for column in self.columns}
        offending = {column: found for column, found in fetched.items() if found}
        if not offending:
            message = f"{label} fetched none of them (budget: {self.describe()})."
            return Verdict(
                self.describe(), True, "not fetched", message, {}, self.points
            )
        sentences = []
        for column, queries in offending.items():
            first = queries[0]
            origin = f" — from {first.origin}" if first.origin else ""
            field = column.rsplit(".", 1)[-1]
            sentences.append(
                f"{label} fetched {column} (budget: `{column}` must not be fetched)."
                f" {_plural(len(queries), 'query', 'queries')}:"
                f" {first.short}{origin}. Try only() with the fields the page"
                f' shows, or defer("{field}").'
            )
        diagnosis = {
            column: [query.to_dict() for query in queries]
            for column, queries in offending.items()
        }
        measured = ", ".join(offending)
        return Verdict(
            self.describe(),
            False,
            measured,
            " ".join(sentences),
            diagnosis,
            self.points,
        )


def queries_at_most(count: int, *, constant_in: str | None = None) -> QueryCount:
    """Budget at most `count` queries, optionally constant in the named rows."""
    return QueryCount(at_most=count, constant_in=constant_in)


def queries_exactly(count: int) -> QueryCount:
    """Budget exactly `count` queries."""
    return QueryCount(exactly=count)


def queries_constant(noun: str) -> QueryCount:
    """Budget a query count that does not grow with the number of `noun`."""
    return QueryCount(constant_in=noun)


def no_duplicate_queries() -> NoDuplicateQueries:
    """Budget no query repeated with the same parameters."""
    return NoDuplicateQueries()


def columns_not_fetched(*columns: str) -> ColumnsNotFetched:
    """Budget SELECT lists free of the given `table.column`s."""
    return ColumnsNotFetched(columns=columns)
