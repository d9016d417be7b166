"""Fixtures shared by the checker's tests: the test app counts as project code."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOTS = ["shop_app", "tests/checker_testapp"]
TESTAPP = Path(__file__).resolve().parents[1] / "checker_testapp"


@pytest.fixture(autouse=True)
def testapp_is_project_code(settings: pytest.FixtureRequest) -> None:
    """Point the checker at the test app as well as the shop."""
    settings.CHECKER_PROJECT_ROOTS = ROOTS  # type: ignore[attr-defined]


def line_of(relative: str, snippet: str) -> str:
    """Return `path:line` of the first line of a test app file holding `snippet`."""
    path = TESTAPP / relative
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if snippet in line:
            return f"tests/checker_testapp/{relative}:{number}"
    raise LookupError(f"{snippet!r} not in {path}")
