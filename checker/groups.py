"""Group captured queries: similar (same normalised SQL) and duplicates.

A group of N similar queries from one relation is the N+1 that
`select_related`, `prefetch_related`, `annotate`, `Prefetch(queryset=...)` or
dropping a `defer()` removes; the group names the relation and the fix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from checker.nplusone import Access

if TYPE_CHECKING:
    from checker.origins import Location
    from checker.queries import CapturedQuery

__all__ = ["QueryGroup", "duplicate_groups", "similar_groups"]


@dataclass
class QueryGroup:
    """Queries sharing one normalised SQL (similar) or also params (duplicates)."""

    alias: str
    normalised: str
    queries: list[CapturedQuery]

    @property
    def count(self) -> int:
        """Return how many queries the group holds."""
        return len(self.queries)

    @property
    def short(self) -> str:
        """Return the group's SQL digest."""
        return self.queries[0].short

    @property
    def suspects(self) -> list[CapturedQuery]:
        """Return the queries that make the group an N+1, if any do.

        They followed one relation from one call site within one request,
        on at least two instances that were rows of a queryset: one object
        loaded on its own, two lines or two requests are no N+1.
        """
        if "_suspects" not in self.__dict__:
            buckets: dict[tuple[Any, ...], list[CapturedQuery]] = {}
            for query in self.queries:
                access = query.access
                if access is None or access.single or access.action == "chunk":
                    continue
                key = (query.request, access.model, access.field, query.origin)
                buckets.setdefault(key, []).append(query)
            largest = max(buckets.values(), key=len, default=[])
            self.__dict__["_suspects"] = largest if len(largest) >= 2 else []
        found: list[CapturedQuery] = self.__dict__["_suspects"]
        return found

    @property
    def chunked(self) -> bool:
        """Tell whether every query is a prefetch `iterator(chunk_size=...)` ran.

        Each reads the related rows of a whole chunk (an IN list of its keys),
        so at most one of them, the last chunk's, may have a single parameter.
        """
        return (
            all(
                q.access is not None and q.access.action == "chunk"
                for q in self.queries
            )
            and sum(1 for q in self.queries if len(q.params or ()) < 2) <= 1
        )

    @property
    def access(self) -> Access | None:
        """Return the relation the group's N+1 followed, when there is one."""
        found = Counter(q.access for q in self.suspects)
        return found.most_common(1)[0][0] if found else None

    @property
    def origin(self) -> Location | None:
        """Return the N+1's call site, else where most of the queries came from."""
        queries = self.suspects or self.queries
        found = Counter(q.origin for q in queries if q.origin is not None)
        return found.most_common(1)[0][0] if found else None

    @property
    def admin(self) -> bool:
        """Tell whether the queries came from the Django admin.

        Either an admin template rendered the relation, or a ModelAdmin
        method did (the project frame is then in an `admin.py`).
        """
        # Decided by most of the queries, not the first: a page's own lookup
        # (the session's user, say) can share the per-row queries' SQL.
        from_admin = sum(1 for query in self.queries if _from_admin(query))
        return from_admin * 2 > len(self.queries)

    @property
    def serializer(self) -> bool:
        """Tell whether a DRF serializer followed the relation.

        Its queryset is then built by the view that serializes the rows.
        """
        from_serializer = sum(
            1
            for query in self.queries
            if query.frame is not None and query.frame.path.endswith("serializers.py")
        )
        return from_serializer * 2 > len(self.queries)

    def fix(self) -> str | None:
        """Name the fix for the group, in the form that fits where it goes."""
        access = self.access
        if access is None:
            return None
        return access.fix(admin=self.admin or access.admin, serializer=self.serializer)

    def to_dict(self) -> dict[str, Any]:
        """Return the group as plain JSON data."""
        access = self.access
        origin = self.origin
        return {
            "alias": self.alias,
            "count": self.count,
            "normalised": self.normalised,
            "short": self.short,
            "origin": str(origin) if origin else None,
            "via": str(access) if access else None,
            "access": access.to_dict() if access else None,
            "fix": self.fix(),
        }


def _from_admin(query: CapturedQuery) -> bool:
    template = query.template
    if template is not None and template.path.startswith("admin/"):
        return True
    return query.frame is not None and query.frame.path.endswith("admin.py")


def _group(
    queries: list[CapturedQuery], key: Callable[[CapturedQuery], tuple[str, ...]]
) -> list[QueryGroup]:
    groups: dict[tuple[str, ...], QueryGroup] = {}
    for captured in queries:
        if captured.transaction:
            continue
        found = groups.get(key(captured))
        if found is None:
            found = groups[key(captured)] = QueryGroup(
                captured.alias, captured.normalised, []
            )
        found.queries.append(captured)
    return sorted(groups.values(), key=lambda group: -group.count)


def similar_groups(
    queries: list[CapturedQuery], *, at_least: int = 2
) -> list[QueryGroup]:
    """Group queries by alias and normalised SQL; keep groups of `at_least`."""
    groups = _group(queries, lambda q: (q.alias, q.normalised))
    return [group for group in groups if group.count >= at_least]


def duplicate_groups(queries: list[CapturedQuery]) -> list[QueryGroup]:
    """Group queries run more than once with the same SQL and parameters."""
    groups = _group(queries, lambda q: (q.alias, q.sql, repr(q.params)))
    return [group for group in groups if group.count >= 2]
