"""The contract every recorder keeps: a `with` block, then plain data.

A recorder starts recording on `__enter__`, stops on `__exit__`, and returns
what it recorded as JSON-ready data from `to_dict()`. A `Measurement` keeps
one recording per part (queries, cache, tasks, resources); a recording built
from other evidence (the servers' own, when grading) keeps only `to_dict()`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

__all__ = ["Recorder", "Recording"]


@runtime_checkable
class Recording(Protocol):
    """What was recorded, as plain JSON data."""

    def to_dict(self) -> dict[str, Any]:
        """Return the recording as plain JSON data."""
        ...


@runtime_checkable
class Recorder(Recording, Protocol):
    """Record while the `with` block runs; `to_dict()` returns what it saw."""

    def __enter__(self) -> Self:
        """Start recording."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop recording; an exception in the block propagates."""
        ...
