"""Fixtures shared by the checker's tests: the test app counts as project code."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker import allowlist

ROOTS = ["shop_app", "tests/checker_testapp"]
TESTAPP = Path(__file__).resolve().parents[1] / "checker_testapp"


@pytest.fixture(autouse=True)
def testapp_is_project_code(settings: pytest.FixtureRequest) -> None:
    """Point the checker at the test app as well as the shop."""
    settings.CHECKER_PROJECT_ROOTS = ROOTS  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def fresh_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start each test with no allow-list entry matched or checked yet."""
    # Both are kept per process, for the stale entries listed at the end.
    monkeypatch.setattr(allowlist, "_matched", set())
    monkeypatch.setattr(allowlist, "_checked", set())


def loop_line() -> str:
    """Return `path:line` of the naive loop view's per-book author lookup."""
    return line_of("views.py", 'f"{book.title} by {book.author.name}" for book in')


def line_of(relative: str, snippet: str) -> str:
    """Return `path:line` of the first line of a test app file holding `snippet`."""
    path = TESTAPP / relative
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if snippet in line:
            return f"tests/checker_testapp/{relative}:{number}"
    raise LookupError(f"{snippet!r} not in {path}")
