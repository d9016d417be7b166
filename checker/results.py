"""A pytest plugin that streams each graded budget's outcome to a JSON-lines file.

Loaded with `-p checker.results` by the runner. A trusted test grades one
budget of one exercise and says so with
`@pytest.mark.exercise("01-product-list", budget="queries")`. Each outcome is
appended as soon as it is decided, so a run killed at its time limit keeps
the verdicts it reached; a later line for the same test (a teardown failure)
replaces an earlier one. The file holds the verdict and the failure message
a learner reads, never the test's source.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Generator
from pathlib import Path

import pytest

_MAX_MESSAGE = 4000


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("course")
    group.addoption("--course-results", help="write budget outcomes to this JSON file")
    group.addoption(
        "--course-exercise",
        action="append",
        default=[],
        help="grade only this exercise (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("course_results")
    if path:
        Path(path).write_text("")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # The grading process ends next: the interpreter's last collection over
    # every module it loaded would add about 0.2 s to each run.
    gc.freeze()


def _exercise(item: pytest.Item) -> tuple[str, str] | None:
    marker = item.get_closest_marker("exercise")
    if marker is None or not marker.args:
        return None
    return str(marker.args[0]), str(marker.kwargs.get("budget", item.name))


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    wanted = set(config.getoption("course_exercise"))
    if not wanted:
        return
    keep = [i for i in items if (_exercise(i) or ("", ""))[0] in wanted]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


def _message(call: pytest.CallInfo[None]) -> str:
    if call.excinfo is None:
        return ""
    error = call.excinfo.value
    text = str(error) if isinstance(error, AssertionError) else ""
    # Keep a custom message and drop pytest's "assert x == y / where ..."
    # explanation, which shows the trusted test's own expressions.
    if "\nassert " in text:
        text = text.split("\nassert ", 1)[0]
    text = text or call.excinfo.exconly()
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "\n[message cut]"
    return text


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    graded = _exercise(item)
    if graded is None:
        return report
    failed = report.failed or (report.when == "call" and report.skipped)
    if report.when == "call" or failed:
        properties = {str(k): v for k, v in report.user_properties}
        message = _message(call)
        if properties.get("disagreement"):
            message = f"{message}\n{properties['disagreement']}".strip()
        outcome = {
            "test": item.nodeid,
            "exercise": graded[0],
            "budget": graded[1],
            "passed": report.passed,
            "phase": report.when,
            "message": message,
            "duration": round(report.duration, 4),
            "properties": properties,
        }
        path = item.config.getoption("course_results")
        if path:
            with Path(path).open("a") as results:
                results.write(json.dumps(outcome, default=str) + "\n")
    return report
