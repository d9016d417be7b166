"""The checker's pytest plugin: fixtures, markers, and results on each report.

Registered through the `pytest11` entry point. Every measurement finished and
every budget verdict checked during a test's call phase is attached to the
test report as `user_properties` (`checker_measurements`, `checker_verdicts`,
`checker_score`), so a grader collecting reports gets the numbers and the
partial credit without re-running anything.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from checker.fixtures import *  # noqa: F403  (fixtures are found by name)

if TYPE_CHECKING:
    from checker.budgets import Verdict
    from checker.measure import Measurement


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "exercise(id, points=None, budget=None): the exercise (and budget) a "
        "test grades, and the points it is worth",
    )
    config.addinivalue_line(
        "markers", "budget(points): points earned when the test's budget is met"
    )


def _summary(measurement: Measurement) -> dict[str, Any]:
    # The full query list can be long; a report carries the figures and the
    # repeated groups, which is what grading and feedback read.
    data = measurement.to_dict()
    data.pop("queries")
    return data


def _score(item: pytest.Item, verdicts: list[Verdict], passed: bool) -> dict[str, Any]:
    weighted = [verdict for verdict in verdicts if verdict.points is not None]
    if weighted:
        possible = sum(verdict.points or 0.0 for verdict in weighted)
        earned = sum(verdict.points or 0.0 for verdict in weighted if verdict.met)
        # Each budget met earns its points, whatever happened to the others.
        return {"possible": possible, "earned": earned}
    marker = item.get_closest_marker("budget") or item.get_closest_marker("exercise")
    points = marker.kwargs.get("points") if marker else None
    if points is None:
        return {}
    return {"possible": float(points), "earned": float(points) if passed else 0.0}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    from checker.budgets import observe_verdicts
    from checker.measure import observe_measurements

    measurements: list[Measurement] = []
    verdicts: list[Verdict] = []
    passed = False
    try:
        with (
            observe_measurements(measurements.append),
            observe_verdicts(verdicts.append),
        ):
            result = yield
        passed = True
        return result
    finally:
        # The call report copies `user_properties` when it is made, right
        # after this hook returns, so they must be in place by now.
        if measurements:
            item.user_properties.append(
                ("checker_measurements", [_summary(m) for m in measurements])
            )
        if verdicts:
            item.user_properties.append(
                ("checker_verdicts", [verdict.to_dict() for verdict in verdicts])
            )
        exercise = item.get_closest_marker("exercise")
        if exercise is not None and exercise.args:
            item.user_properties.append(("checker_exercise", str(exercise.args[0])))
        score = _score(item, verdicts, passed)
        if score:
            item.user_properties.append(("checker_score", score))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the allow-list entries that silenced no N+1 in the session."""
    # Not imported means no N+1 was looked for: nothing can be stale.
    allowlist = sys.modules.get("checker.allowlist")
    stale = allowlist.stale_entries() if allowlist is not None else []
    if not stale:
        return
    terminalreporter.write_sep("=", "stale CHECKER_NPLUSONE_ALLOW entries", yellow=True)
    for entry in stale:
        terminalreporter.write_line(f"{entry}: matched no N+1 in this session")
    terminalreporter.write_line(
        "Remove them from CHECKER_NPLUSONE_ALLOW, or run the tests that cover"
        " them: an entry is stale once the N+1 it accepted is gone."
    )
