"""Lesson 10's metrics fail when one piece of the reference fix is taken out."""

from __future__ import annotations

import pytest

from tests.lessons.conftest import graded_with_breaks

# /metrics serves the one worker's own registry instead of every worker's
# files, and the histogram is labelled by the raw path.
BREAKS = [
    (
        "shop_app/config/metrics.py",
        r'if os\.environ\.get\("PROMETHEUS_MULTIPROC_DIR"\):',
        "if False:",
    ),
    (
        "shop_app/config/metrics.py",
        r"view = _view_name\(request\)",
        "view = request.path",
    ),
]


@pytest.fixture(scope="module")
def broken(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("lesson-10-metrics-broken")
    return graded_with_breaks(root, grade, course, "10-metrics", ["10-metrics"], BREAKS)


def test_one_workers_registry_and_raw_paths_are_each_named(broken):
    metrics = broken["10-metrics"]

    assert not metrics["per-view"].passed
    assert "labelled by raw paths" in metrics["per-view"].message
    assert not metrics["workers"].passed
    assert "multiprocess.MultiProcessCollector" in metrics["workers"].message
    assert metrics["private"].passed
