"""Public pytest fixtures of the checker, registered by `checker.plugin`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from checker.growth import Growth
    from checker.measure import Measurement

__all__ = ["course_growth", "course_measure", "measure_request"]


@pytest.fixture
def course_measure() -> Callable[..., AbstractContextManager[Measurement]]:
    """Return `checker.measure.measure`, the context manager that measures a block."""
    from checker.measure import measure

    return measure


@pytest.fixture
def course_growth() -> Callable[..., Growth]:
    """Return `checker.growth.measure_growth`, which runs a scenario at two sizes."""
    from checker.growth import measure_growth

    return measure_growth


@pytest.fixture
def measure_request(
    request: pytest.FixtureRequest,
) -> Callable[..., tuple[Any, Measurement]]:
    """Return a function that requests a path with the test client and measures it."""
    from checker.measure import measure

    def measure_one(
        path: str, *, method: str = "get", client: Any = None, **options: Any
    ) -> tuple[Any, Measurement]:
        client = client or request.getfixturevalue("client")
        with measure(f"{method.upper()} {path}", **options) as measurement:
            response = getattr(client, method.lower())(path)
        return response, measurement

    return measure_one
