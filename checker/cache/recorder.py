"""The cache recorder: every operation on every cache while a block runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from types import TracebackType
from typing import Any, Self

from checker.cache.patching import (
    RawOperation,
    operation_of,
    start_recording,
    stop_recording,
)
from checker.cache.records import CacheError, CacheOperation
from checker.cache.redis_info import RedisCounters
from checker.origins import ProjectCode
from checker.recorders import Recorder

__all__ = ["CacheRecorder"]


class CacheRecorder(Recorder):
    """Record the cache operations made while the block runs, on every thread."""

    def __init__(self, *, cross_check: bool = True) -> None:
        self._redis_info: dict[str, dict[str, Any]] | None = None
        self._finished = False
        self._lookups: dict[str, list[int]] = _LookupCounts()
        self._counters = RedisCounters() if cross_check else None
        # Recording keeps the raw tuples the wrappers leave; they become
        # CacheOperation and CacheError objects when first read.
        self._raw: list[RawOperation] = []
        self._operations: list[CacheOperation] = []
        self._errors: list[CacheError] = []
        self._project: ProjectCode | None = None

    @property
    def operations(self) -> list[CacheOperation]:
        """Return the operations recorded so far, oldest first."""
        raws = self._raw
        built = self._operations
        if len(built) < len(raws):
            project = self._project or ProjectCode.from_settings()
            for raw in raws[len(built) :]:
                found = operation_of(raw, project)
                built.append(found)
                self._errors += [
                    CacheError(
                        alias=found.alias,
                        method=found.method,
                        error=repr(error),
                        swallowed=swallowed,
                        call_site=found.call_site,
                    )
                    for error, swallowed in raw[-1]
                ]
        return built

    @property
    def errors(self) -> list[CacheError]:
        """Return the errors the operations raised or the backend swallowed."""
        self.operations  # noqa: B018  (builds the errors with the operations)
        return self._errors

    @property
    def hits(self) -> int:
        return sum(operation.hits for operation in self.operations)

    @property
    def misses(self) -> int:
        return sum(operation.misses for operation in self.operations)

    def __enter__(self) -> Self:
        self._project = ProjectCode.from_settings()
        counters = self._counters
        if counters is not None:
            counters.start()
        start_recording(self, before_first=counters.settle if counters else None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stop_recording(self)
        if self._counters is not None:
            self._counters.finish()
        self._finished = True

    @property
    def redis_info(self) -> dict[str, dict[str, Any]]:
        """Return, per Redis alias, the server's counters beside the lookups made.

        Empty without the cross-check, and until the block ends; read from
        the servers' replies the first time it is asked for after that.
        """
        if self._redis_info is None:
            if not self._finished:
                return {}
            counters = self._counters
            self._redis_info = counters.report(self._lookups) if counters else {}
        return self._redis_info

    def receive(
        self,
        alias: str,
        lookups: tuple[int, int],
        operation: RawOperation | None,
        errors: list[tuple[BaseException, bool]],
    ) -> None:
        """Count a call's server lookups; keep it if it is an operation."""
        counts = self._lookups[alias]
        counts[0] += lookups[0]
        counts[1] += lookups[1]
        if operation is not None:
            self._raw.append(operation)

    def by_family(self) -> dict[str, dict[str, int]]:
        """Return operations, hits and misses per key family."""
        totals: dict[str, dict[str, int]] = {}
        for operation in self.operations:
            row = totals.setdefault(
                operation.family, {"operations": 0, "hits": 0, "misses": 0}
            )
            row["operations"] += 1
            row["hits"] += operation.hits
            row["misses"] += operation.misses
        return totals

    def writes(self) -> Iterator[CacheOperation]:
        """Yield the operations that stored a value or changed its expiry."""
        return (op for op in self.operations if op.write)

    def to_dict(self) -> dict[str, Any]:
        """Return the recording as plain JSON data."""
        return {
            "operations": [
                {**asdict(op), "family": op.family} for op in self.operations
            ],
            "hits": self.hits,
            "misses": self.misses,
            "by_family": self.by_family(),
            "errors": [asdict(error) for error in self.errors],
            "redis_info": self.redis_info,
        }


class _LookupCounts(dict[str, list[int]]):
    """Keyspace lookups per alias, as the Redis server should have counted."""

    def __missing__(self, alias: str) -> list[int]:
        self[alias] = counts = [0, 0]
        return counts
