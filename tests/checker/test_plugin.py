"""The pytest plugin: fixtures, markers, and results attached to reports."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.checker_testapp.data import library_create

REPO = Path(__file__).resolve().parents[2]

SUBJECT = """
import pytest

from checker.budgets import assert_within, check_all, memory_at_most


def _block(measure, label, size):
    with measure(label, queries=False, cache=False, tasks=False) as measurement:
        block = bytearray(size)
        del block
    return measurement


@pytest.mark.exercise("01-demo", points=2)
def test_met(course_measure):
    assert_within(_block(course_measure, "small", 10), memory_at_most(mib=1))


@pytest.mark.budget(points=3)
def test_exceeded(course_measure):
    assert_within(_block(course_measure, "big", 2 << 20), memory_at_most(mib=1))


def test_partial(course_measure):
    measurement = _block(course_measure, "partial", 2 << 20)
    check_all(
        measurement,
        memory_at_most(mib=4).worth(2),
        memory_at_most(mib=1).worth(1),
    )


def test_unmeasured():
    assert True
"""

COLLECTOR = """
import json
import os


def pytest_runtest_logreport(report):
    if report.when == "call":
        with open(os.environ["CHECKER_PROPERTIES"], "a") as out:
            record = {
                "test": report.nodeid.rsplit("::", 1)[-1],
                "outcome": report.outcome,
                "properties": dict(report.user_properties),
            }
            out.write(json.dumps(record, default=str) + "\\n")
"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Run a small suite in a child pytest; return each test's call report."""
    folder = tmp_path_factory.mktemp("suite")
    (folder / "test_subject.py").write_text(SUBJECT)
    (folder / "conftest.py").write_text(COLLECTOR)
    (folder / "pytest.ini").write_text(
        textwrap.dedent(
            f"""\
            [pytest]
            DJANGO_SETTINGS_MODULE = tests.settings
            pythonpath = {REPO / "shop_app"} {REPO}
            addopts = --strict-markers
            """
        )
    )
    output = folder / "properties.jsonl"
    env = {**os.environ, "CHECKER_PROPERTIES": str(output)}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 failed, 3 passed" in completed.stdout, completed.stdout
    lines = output.read_text().splitlines()
    return {record["test"]: record for record in map(json.loads, lines)}


def test_markers_are_registered_for_strict_runs(reports):
    assert set(reports) == {
        "test_met",
        "test_exceeded",
        "test_partial",
        "test_unmeasured",
    }


def test_a_met_budget_earns_the_exercise_points(reports):
    properties = reports["test_met"]["properties"]

    assert properties["checker_exercise"] == "01-demo"
    assert properties["checker_score"] == {"possible": 2.0, "earned": 2.0}
    [verdict] = properties["checker_verdicts"]
    assert (verdict["met"], verdict["budget"]) == (True, "at most 1.0 MiB")
    [measurement] = properties["checker_measurements"]
    assert measurement["label"] == "small"
    assert "queries" not in measurement


def test_an_exceeded_budget_earns_nothing_and_keeps_the_message(reports):
    record = reports["test_exceeded"]
    properties = record["properties"]

    assert record["outcome"] == "failed"
    assert properties["checker_score"] == {"possible": 3.0, "earned": 0.0}
    [verdict] = properties["checker_verdicts"]
    assert verdict["message"].startswith("big peaked at 2.0 MiB of Python memory")


def test_budgets_worth_points_give_partial_credit(reports):
    properties = reports["test_partial"]["properties"]

    assert properties["checker_score"] == {"possible": 3.0, "earned": 2.0}
    assert [v["met"] for v in properties["checker_verdicts"]] == [True, False]


def test_a_test_without_measurements_reports_nothing(reports):
    assert reports["test_unmeasured"]["properties"] == {}


@pytest.mark.django_db
@pytest.mark.urls("tests.checker_testapp.urls")
def test_measure_request_labels_the_measurement_with_the_request(measure_request):
    library_create(books=2)
    response, measurement = measure_request("/loop/naive/", memory=False)

    assert response.status_code == 200
    assert (measurement.label, measurement.query_count) == ("GET /loop/naive/", 3)


def test_growth_and_measure_fixtures_are_the_engine_functions(
    course_measure, course_growth
):
    from checker.growth import measure_growth
    from checker.measure import measure

    assert (course_measure, course_growth) == (measure, measure_growth)
