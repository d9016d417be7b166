"""One context manager that measures a block: queries, cache, tasks, resources.

    with measure("GET /books/") as m:
        client.get("/books/")
    m.query_count, m.similar(), m.plans(), print(m.report())

Notebooks, the pytest plugin and grading all read numbers from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from checker.eager import EagerLoad
from checker.groups import QueryGroup, duplicate_groups, similar_groups
from checker.origins import ProjectCode
from checker.plans import Plan, explain_all
from checker.queries import CapturedQuery, QueryRecorder
from checker.resources import ResourceRecorder

__all__ = ["Measurement", "measure", "observe_measurements"]


class Measurement:
    """What one measured block did; filled in while the block runs."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.recorder: QueryRecorder | None = None
        self.cache: Any | None = None
        self.tasks: Any | None = None
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
        from checker.receipts import measurement_to_dict

        return measurement_to_dict(self)

    def report(self) -> str:
        """Return the receipt as readable text."""
        from checker.receipts import render_text

        return render_text(self.to_dict())

    def __rich__(self) -> Any:
        from checker.receipts import render_rich

        return render_rich(self.to_dict())

    def _repr_html_(self) -> str:
        from checker.receipts import render_html

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


def _optional_recorder(module: str, name: str, **options: Any) -> Any | None:
    # The cache and task recorders live in their own modules; measure what
    # is available rather than fail when one is absent.
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == module:
            return None
        raise
    recorder = getattr(found, name, None)
    return recorder(**options) if recorder is not None else None


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
    cache hits counted with Redis's own `INFO` counters, at the price of a few
    round trips to Redis per block.
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
                recorder = _optional_recorder(
                    "checker.cache", "CacheRecorder", cross_check=cross_check
                )
                if recorder is not None:
                    measurement.cache = stack.enter_context(recorder)
            if tasks:
                recorder = _optional_recorder("checker.tasks", "TaskRecorder")
                if recorder is not None:
                    measurement.tasks = stack.enter_context(recorder)
            yield measurement
    finally:
        for callback in list(_observers):
            callback(measurement)
