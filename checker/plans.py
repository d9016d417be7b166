"""Ask PostgreSQL how it runs captured SELECTs: which scans, which indexes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction

from checker import sql

if TYPE_CHECKING:
    from checker.queries import CapturedQuery

__all__ = ["Plan", "ScanNode", "explain", "explain_all", "node_label", "plan_nodes"]


@dataclass(frozen=True)
class ScanNode:
    """One node of a plan that reads a table or an index."""

    node_type: str
    relation: str | None
    index: str | None
    estimated_rows: float
    actual_rows: float | None = None
    loops: int | None = None

    def __str__(self) -> str:
        text = node_label(self.node_type, self.index, self.relation)
        rows = f"est. {self.estimated_rows:g} row"
        rows += "" if self.estimated_rows == 1 else "s"
        if self.actual_rows is not None:
            rows += f", actual {self.actual_rows:g}"
        return f"{text} ({rows})"

    def to_dict(self) -> dict[str, Any]:
        """Return the node as plain JSON data."""
        return {
            "node_type": self.node_type,
            "relation": self.relation,
            "index": self.index,
            "estimated_rows": self.estimated_rows,
            "actual_rows": self.actual_rows,
            "loops": self.loops,
        }


@dataclass
class Plan:
    """A summarised `EXPLAIN (FORMAT JSON)` of one captured SELECT."""

    query: CapturedQuery
    scans: list[ScanNode]
    total_cost: float
    analyzed: bool
    raw: dict[str, Any] = field(repr=False)

    def uses_index(self, name: str) -> bool:
        """Tell whether any scan reads the named index."""
        return any(scan.index == name for scan in self.scans)

    def seq_scans(self, table: str | None = None) -> list[ScanNode]:
        """Return the sequential scans, optionally on one table only."""
        return [
            scan
            for scan in self.scans
            if scan.node_type == "Seq Scan" and table in (None, scan.relation)
        ]

    def __str__(self) -> str:
        scans = "; ".join(str(scan) for scan in self.scans) or "no table scans"
        return f"{self.query.short} -> {scans}"

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as plain JSON data (the raw plan left out)."""
        return {
            "sql": self.query.short,
            "origin": str(self.query.origin) if self.query.origin else None,
            "total_cost": self.total_cost,
            "analyzed": self.analyzed,
            "scans": [scan.to_dict() for scan in self.scans],
        }


def node_label(node_type: str, index: str | None, relation: str | None) -> str:
    """Name a plan node as EXPLAIN prints it: its type, its index, its table."""
    text = node_type
    if index:
        text += f" using {index}"
    if relation:
        text += f" on {relation}"
    return text


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield a node of an `EXPLAIN (FORMAT JSON)` plan, then those below it."""
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def _scan(node: dict[str, Any]) -> ScanNode:
    return ScanNode(
        node_type=str(node["Node Type"]),
        relation=node.get("Relation Name"),
        index=node.get("Index Name"),
        estimated_rows=float(node.get("Plan Rows", 0)),
        actual_rows=node.get("Actual Rows"),
        loops=node.get("Actual Loops"),
    )


def explain(captured: CapturedQuery, *, analyze: bool = False) -> Plan | None:
    """Explain one captured SELECT on PostgreSQL; None for anything else.

    Writes are never explained. With `analyze` the statement really runs,
    inside a transaction or savepoint that is rolled back afterwards.
    """
    connection = connections[captured.alias]
    if (
        connection.vendor != "postgresql"
        or captured.many
        or captured.error
        or not sql.is_select(captured.sql)
    ):
        return None
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    statement = f"EXPLAIN ({options}) {captured.sql}"
    with transaction.atomic(using=captured.alias):
        with connection.cursor() as cursor:
            cursor.execute(statement, captured.params)
            (result,) = cursor.fetchone()
        transaction.set_rollback(True, using=captured.alias)
    document = json.loads(result) if isinstance(result, str) else result
    top = document[0]["Plan"]
    scans = [_scan(node) for node in plan_nodes(top) if "Scan" in node["Node Type"]]
    return Plan(captured, scans, float(top["Total Cost"]), analyze, document[0])


def explain_all(
    queries: Iterable[CapturedQuery], *, analyze: bool = False
) -> list[Plan]:
    """Explain one SELECT of each shape (same normalised SQL), the first run.

    An N+1 of 200 similar queries costs one EXPLAIN, not 200; queries of one
    shape with very different parameters could be planned differently, which
    a plan budget on the first of them does not see.
    """
    seen: set[tuple[str, str]] = set()
    plans: list[Plan] = []
    for captured in queries:
        key = (captured.alias, captured.normalised)
        if key in seen:
            continue
        seen.add(key)
        plan = explain(captured, analyze=analyze)
        if plan is not None:
            plans.append(plan)
    return plans
