"""Measure what Django code does to the database, cache and task queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checker.course.notebooks import CheckReport


def check(target: str | None = None) -> CheckReport:
    """Grade an exercise or lesson in a notebook, exactly as `course check` does."""
    from checker.course.notebooks import check as run

    return run(target)
