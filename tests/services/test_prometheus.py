"""The course's Prometheus scrapes the deployed shop, every Gunicorn worker's share.

The shop is a scratch copy with every patch through lesson 10's metrics,
deployed as `course stack up` deploys it (Gunicorn's workers behind Nginx) with
Prometheus started the way it starts it; the requests go to a page no URL
matches, so no database is needed. CI installs `prometheus` (`.ci/run`);
without it these tests say so and skip.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
from rich.console import Console

from checker.course.deploy import _prometheus_start, stack_command
from checker.course.manifest import load_course
from checker.services.prometheus import (
    metrics_token,
    prometheus_binary,
    prometheus_query,
    prometheus_stop,
    prometheus_targets,
    prometheus_url,
)
from checker.services.stack import Stack, free_ports, stack_client
from tests.lessons.conftest import REPO, shop_copy

REQUESTS = 5
COUNTED = 'sum(shop_request_latency_seconds_count{view="<unmatched>"})'
NOTEBOOK = "sum by (view, le) (shop_request_latency_seconds_bucket)"

pytestmark = pytest.mark.skipif(
    prometheus_binary() is None,
    reason="Debian's prometheus is not installed (apt-get install prometheus)",
)


def _until(found: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def _target(url: str) -> dict[str, Any] | None:
    """Return the shop's scrape target once it has been scraped, else None."""
    targets = prometheus_targets(url)
    never = "0001-01-01T00:00:00Z"
    return targets[0] if targets and targets[0]["lastScrape"] != never else None


def _counted(url: str) -> float:
    """Return the requests Prometheus has counted, once a scrape counted any."""
    rows = _until(lambda: prometheus_query(url, COUNTED), "no scrape counted any")
    return float(rows[0]["value"][1])


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("prometheus-stack")
    exercises = load_course(REPO).exercises
    ids = [e.id for e in exercises]
    shop_copy(root, [e.solution for e in exercises[: ids.index("10-metrics") + 1]])
    home = root / ".course"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_HOME", str(home))
        patch.delenv("PROMETHEUS_URL", raising=False)
        patch.delenv("METRICS_TOKEN", raising=False)
        token = metrics_token(home / "prometheus")
        stack = Stack(
            root=root,
            folder=home / "stack",
            ports=tuple(free_ports(3)),
            env={"METRICS_TOKEN": token},
        )
        with stack:
            said = _prometheus_start(home / "prometheus", stack)
            try:
                yield {
                    "home": home,
                    "stack": stack,
                    "said": said,
                    "url": prometheus_url(),
                }
            finally:
                prometheus_stop(home / "prometheus")


def test_prometheus_counts_the_requests_every_worker_answered(deployed):
    url = deployed["url"]
    assert deployed["said"].startswith(f"Prometheus on {url}, scraping /metrics")
    assert len(deployed["stack"].gunicorn_workers()) >= 2

    # The stack's own readiness probes are counted too: start from a scrape.
    before = _counted(url)
    stack = deployed["stack"]
    with stack_client(
        stack.addresses.https, certificate=stack.addresses.certificate
    ) as client:
        for _ in range(REQUESTS):
            client.get("/no-such-page/")
    after = _until(
        lambda: (n := _counted(url)) >= before + REQUESTS and n,
        f"Prometheus did not count the {REQUESTS} requests",
    )

    assert after - before == REQUESTS
    # The series the notebook reads its percentiles from.
    buckets = prometheus_query(url, NOTEBOOK)
    assert {row["metric"]["view"] for row in buckets} == {"<unmatched>"}
    assert _target(url)["health"] == "up"


def test_a_wrong_token_puts_the_target_down_with_its_error(deployed):
    url, token_file = deployed["url"], deployed["home"] / "prometheus/metrics-token"
    token = token_file.read_text()
    token_file.write_text("not-the-token")
    try:
        # Prometheus reads the token file on every scrape.
        down = _until(
            lambda: (t := _target(url)) and t["health"] == "down" and t,
            "the target did not go down",
        )
    finally:
        token_file.write_text(token)

    assert down["lastError"] == "server returned HTTP status 401 Unauthorized"


def test_with_prometheus_url_the_stack_starts_none_and_writes_the_job(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("PROMETHEUS_URL", "http://127.0.0.1:9090")
    stack = Stack(root=REPO, folder=tmp_path / "stack", ports=(8001, 8080, 8443))

    said = _prometheus_start(tmp_path / "prometheus", stack)

    config = tmp_path / "prometheus" / "prometheus.yml"
    assert said == (
        "Prometheus: yours at http://127.0.0.1:9090 (PROMETHEUS_URL);"
        f" add the scrape job in {config} to its config."
    )
    assert '"127.0.0.1:8443"' in config.read_text()
    assert not (tmp_path / "prometheus" / "prometheus.pid").exists()


def test_stopping_leaves_alone_a_process_that_is_not_prometheus(tmp_path):
    (tmp_path / "prometheus.pid").write_text(f"{os.getpid()}\n")

    assert prometheus_stop(tmp_path) == []
    assert psutil.pid_exists(os.getpid())


def test_stack_down_leaves_no_prometheus_process(deployed, monkeypatch):
    home = deployed["home"]
    pid = int((home / "prometheus" / "prometheus.pid").read_text())
    monkeypatch.setenv("COURSE_HOME", str(home))
    console = Console(record=True, width=200)

    stack_command(argparse.Namespace(action="down"), console)

    assert f"stopped prometheus (pid {pid})" in console.export_text()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert prometheus_url() == ""
