"""Lesson 10's metrics fail when one piece of the reference fix is taken out."""

from __future__ import annotations

import pytest

from tests.lessons.conftest import graded_with_breaks

# /metrics serves the one worker's own registry instead of every worker's
# files, the histogram is labelled by the raw path, and a cache miss is
# counted as a hit.
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
    (
        "shop_app/config/metrics.py",
        r"CACHE_MISSES\.inc\(\)\n(\s+)return default",
        r"CACHE_HITS.inc()\n\1return default",
    ),
]


@pytest.fixture(scope="module")
def broken(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("lesson-10-metrics-broken")
    return graded_with_breaks(root, grade, course, "10-metrics", ["10-metrics"], BREAKS)


def test_one_workers_registry_raw_paths_and_misses_as_hits_are_each_named(broken):
    metrics = broken["10-metrics"]

    assert not metrics["per-view"].passed
    assert "labelled by raw paths" in metrics["per-view"].message
    assert not metrics["workers"].passed
    assert "multiprocess.MultiProcessCollector" in metrics["workers"].message
    assert metrics["private"].passed
    # Every read counted as a hit: the misses' counter stays at 0 whichever
    # worker answers the scrape, while Redis counted the cold page's misses.
    assert not metrics["cache"].passed
    assert "shop_cache_misses_total grew by 0, while the run's Redis counted" in (
        metrics["cache"].message
    )
    assert "(one cold, then 3 warm)" in metrics["cache"].message
    assert "shop_app/config/metrics.py:" in metrics["cache"].message
