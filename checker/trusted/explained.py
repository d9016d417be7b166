"""Plans and buffers of the statements PostgreSQL received, read by the trusted side.

Each SELECT the server received from the shop is run again under
`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`, logged in as the run's own role,
in a read-only transaction that is rolled back: the plan and the pages it
touched are the server's, whatever the shop's process reports. Buffers are
counted whether they were found in PostgreSQL's cache or read, so a warm or
cold cache gives the same figure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import pq
from psycopg.sql import SQL, Identifier

from checker import sql
from checker.plans import node_label, plan_nodes
from checker.queries import CapturedQuery

__all__ = [
    "Explained",
    "Node",
    "explain_received",
    "node_buffers",
    "plan_sent",
    "read_only_as",
]

# A page of the naive shop sends a few hundred statements; beyond this many
# the page is slow for reasons no plan explains.
MOST_STATEMENTS = 1_000


@dataclass(frozen=True)
class Node:
    """One node of an analyzed plan, with the buffers it and its children touched."""

    node_type: str
    relation: str | None
    index: str | None
    actual_rows: float
    loops: int
    buffers: int
    sort_key: tuple[str, ...] = ()
    # Rows the node read and threw away: its filter's and its recheck's.
    removed: float = 0

    def __str__(self) -> str:
        text = node_label(self.node_type, self.index, self.relation)
        rows = int(self.actual_rows * max(self.loops, 1))
        return f"{text} ({rows:,} row{'' if rows == 1 else 's'})"

    @property
    def rows_read(self) -> int:
        """Return the rows the node read, those it kept and those it removed."""
        return int((self.actual_rows + self.removed) * max(self.loops, 1))


@dataclass
class Explained:
    """One received SELECT, its plan's nodes and its shared buffers."""

    query: CapturedQuery
    buffers: int
    nodes: list[Node] = field(default_factory=list)

    def scans(self, table: str) -> list[Node]:
        """Return the nodes that read `table` (a scan of it or of its index)."""
        return [node for node in self.nodes if node.relation == table]

    def sorts_on(self, column: str) -> list[Node]:
        """Return the Sort nodes whose key names `column`, qualified or not."""
        name = re.compile(rf"(?:^|\.){re.escape(column)}\b")
        return [
            node
            for node in self.nodes
            if "Sort" in node.node_type
            and any(name.search(key) for key in node.sort_key)
        ]

    @property
    def rows(self) -> int:
        """Return the rows the statement returned."""
        return int(self.nodes[0].actual_rows) if self.nodes else 0

    def heaviest_scan(self) -> Node | None:
        """Return the scan that touched the most buffers."""
        scans = [node for node in self.nodes if "Scan" in node.node_type]
        return max(scans, key=lambda node: node.buffers, default=None)

    @property
    def where(self) -> str:
        return f" — from {self.query.origin}" if self.query.origin else ""


def node_buffers(node: dict[str, Any]) -> int:
    """Return the shared buffers a plan node touched, found cached or read."""
    hit, read = node.get("Shared Hit Blocks", 0), node.get("Shared Read Blocks", 0)
    return int(hit) + int(read)


def _walk(top: dict[str, Any]) -> Iterator[Node]:
    for node in plan_nodes(top):
        yield Node(
            node_type=str(node["Node Type"]),
            relation=node.get("Relation Name"),
            index=node.get("Index Name"),
            actual_rows=float(node.get("Actual Rows", 0)),
            loops=int(node.get("Actual Loops", 1)),
            buffers=node_buffers(node),
            sort_key=tuple(node.get("Sort Key", ())),
            removed=float(node.get("Rows Removed by Filter", 0))
            + float(node.get("Rows Removed by Index Recheck", 0)),
        )


@contextmanager
def read_only_as(connection: Any, role: str) -> Iterator[None]:
    """Open a read-only transaction as `role`, with a timeout, rolled back."""
    with connection.transaction(force_rollback=True):
        connection.execute("SET TRANSACTION READ ONLY")
        connection.execute(SQL("SET LOCAL ROLE {}").format(Identifier(role)))
        connection.execute("SET LOCAL statement_timeout = '20s'")
        yield


def plan_sent(connection: Any, query: CapturedQuery) -> dict[str, Any] | None:
    """Explain and run `query` again as the shop sent it; None if it fails.

    Return the top node of its plan. Call it inside `read_only_as`.
    """
    params = [None if value is None else str(value).encode() for value in query.params]
    text = query.sql.strip().rstrip(";")
    # The low-level call sends the text and its $n parameters as the
    # shop did, with no placeholder of psycopg's own read in it.
    result = connection.pgconn.exec_params(
        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {text}".encode(), params
    )
    if result.status != pq.ExecStatus.TUPLES_OK:
        return None
    document = json.loads(result.get_value(0, 0).decode())
    return dict(document[0]["Plan"])


def explain_received(
    connection: Any, role: str, queries: list[CapturedQuery]
) -> list[Explained]:
    """Explain and run again every SELECT of `queries`, as `role`, rolled back."""
    explained: list[Explained] = []
    reads = [query for query in queries if sql.is_select(query.sql)]
    with read_only_as(connection, role):
        for query in reads[:MOST_STATEMENTS]:
            top = plan_sent(connection, query)
            if top is not None:
                explained.append(Explained(query, node_buffers(top), list(_walk(top))))
    return explained
