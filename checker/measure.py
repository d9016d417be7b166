"""One context manager that measures a block: queries, cache, tasks, resources.

    with measure("GET /books/") as m:
        client.get("/books/")
    m.query_count, m.similar(), m.plans(), print(m.report())

Notebooks, the pytest plugin and grading all read numbers from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from checker.cache import CacheRecorder
from checker.eager import EagerLoad
from checker.groups import QueryGroup, duplicate_groups, similar_groups
from checker.origins import ProjectCode
from checker.plans import Plan, explain_all
from checker.queries import CapturedQuery, QueryRecorder
from checker.receipts import render_html, render_rich, render_text
from checker.recorders import Recording
from checker.resources import ResourceRecorder
from checker.tasks import TaskRecorder

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["Measurement", "measure", "observe_measurements"]


class Measurement:
    """What one measured block did; filled in while the block runs.

    Each part is a recorder's recording, or None when that part was not
    measured. The cache and task parts need only give their data: grading
    puts there the recordings it builds from the servers' own evidence.
    """

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.recorder: QueryRecorder | None = None
        self.cache: Recording | None = None
        self.tasks: Recording | None = None
        self.resources: ResourceRecorder | None = None
        self._plans: dict[bool, list[Plan]] = {}

    @property
    def queries(self) -> list[CapturedQuery]:
        """Return every statement run, transaction control included."""
        return self.recorder.queries if self.recorder else []

    @property
    def statements(self) -> list[CapturedQuery]:
        """Return the queries that count: all but BEGIN/SAVEPOINT/COMMIT and kin."""
        return [query for query in self.queries if not query.transaction]

    @property
    def query_count(self) -> int:
        """Return how many queries ran, transaction control left out."""
        return len(self.statements)

    @property
    def wall_time(self) -> float | None:
        """Return the block's wall time in seconds."""
        return self.resources.wall_time if self.resources else None

    @property
    def peak_bytes(self) -> int | None:
        """Return the block's Python memory peak, when memory was traced."""
        return self.resources.peak_bytes if self.resources else None

    def similar(self, *, at_least: int = 2) -> list[QueryGroup]:
        """Return groups of queries with the same normalised SQL, largest first."""
        return similar_groups(self.queries, at_least=at_least)

    def duplicates(self) -> list[QueryGroup]:
        """Return groups of queries run more than once with the same params."""
        return duplicate_groups(self.queries)

    def groups(self) -> list[QueryGroup]:
        """Return every query grouped by normalised SQL, largest first."""
        return similar_groups(self.queries, at_least=1)

    def unused_eager_loads(self) -> list[EagerLoad]:
        """Return the select_related/prefetch_related relations the block never read."""
        watched = self.recorder.eager if self.recorder else None
        return watched.unused() if watched else []

    def fetching(self, column: str) -> list[CapturedQuery]:
        """Return the SELECTs whose column list includes `table.column`."""
        return [
            query
            for query in self.statements
            if any(_names_column(item, column) for item in query.columns)
        ]

    def plans(self, *, analyze: bool = False) -> list[Plan]:
        """Explain one SELECT of each shape on PostgreSQL (once, on demand)."""
        if analyze not in self._plans:
            self._plans[analyze] = explain_all(self.statements, analyze=analyze)
        return self._plans[analyze]

    def to_dict(self) -> dict[str, Any]:
        """Return the measurement as plain JSON data (a receipt)."""
        resources = self.resources
        plans = self._plans.get(True) or self._plans.get(False)
        return {
            "label": self.label,
            "query_count": self.query_count,
            "transaction_statements": len(self.queries) - self.query_count,
            "resources": resources.to_dict() if resources else None,
            "similar": [group.to_dict() for group in self.similar()],
            "duplicates": [group.to_dict() for group in self.duplicates()],
            "unused_eager": [load.to_dict() for load in self.unused_eager_loads()],
            "queries": [query.to_dict() for query in self.queries],
            "plans": [plan.to_dict() for plan in plans] if plans else None,
            "cache": self.cache.to_dict() if self.cache else None,
            "tasks": self.tasks.to_dict() if self.tasks else None,
        }

    def report(self) -> str:
        """Return the receipt as readable text."""
        return render_text(self.to_dict())

    def __rich__(self) -> RenderableType:
        return render_rich(self.to_dict())

    def _repr_html_(self) -> str:
        return render_html(self.to_dict())

    def __repr__(self) -> str:
        return (
            f"<Measurement {self.label or '(unlabelled)'}: {self.query_count} queries>"
        )


def _names_column(item: str, column: str) -> bool:
    expression = item.split(" AS ")[0].strip()
    if "." in column:
        return expression == column
    return expression == column or expression.endswith(f".{column}")


_observers: list[Callable[[Measurement], None]] = []


@contextmanager
def observe_measurements(callback: Callable[[Measurement], None]) -> Iterator[None]:
    """Call `callback` with every measurement finished inside the block."""
    _observers.append(callback)
    try:
        yield
    finally:
        _observers.remove(callback)


@contextmanager
def measure(
    label: str = "",
    *,
    queries: bool = True,
    cache: bool = True,
    tasks: bool = True,
    memory: bool = True,
    cross_check: bool = True,
    project: ProjectCode | None = None,
    aliases: Iterable[str] | None = None,
) -> Iterator[Measurement]:
    """Measure the block; turn parts off with `queries`, `cache`, `tasks`, `memory`.

    `memory=True` traces allocations with tracemalloc, which slows Python code
    down: leave it off when the wall time matters. `cross_check` compares the
    cache hits counted with Redis's own `INFO` counters, at the price of one
    round trip per Redis server when the block starts (waited for only at the
    block's first cache call) and one when it ends.
    """
    measurement = Measurement(label)
    try:
        with ExitStack() as stack:
            measurement.resources = stack.enter_context(ResourceRecorder(memory=memory))
            if queries:
                measurement.recorder = stack.enter_context(
                    QueryRecorder(project=project, aliases=aliases)
                )
            if cache:
                measurement.cache = stack.enter_context(
                    CacheRecorder(cross_check=cross_check)
                )
            if tasks:
                measurement.tasks = stack.enter_context(TaskRecorder())
            yield measurement
    finally:
        for callback in list(_observers):
            callback(measurement)
