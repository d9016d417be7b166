"""Debian's Prometheus scrapes the shop's /metrics under Gunicorn with 2 workers.

The shop is a scratch copy with every patch through lesson 10's metrics; the
requests go to a page no URL matches, so no database is needed. CI installs
`prometheus` (`.ci/run`); without it the test says so and skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from checker.course.manifest import load_course
from checker.harness.served import free_port
from tests.lessons.conftest import REPO, shop_copy

REQUESTS = 5
TOKEN = "scrape-token"
CONFIG = """\
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: shop
    authorization:
      credentials: {token}
    static_configs:
      - targets: ["127.0.0.1:{shop}"]
  - job_name: anonymous
    static_configs:
      - targets: ["127.0.0.1:{shop}"]
"""


def _wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")


def _query(prometheus: str, expression: str) -> dict[str, float]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expression})
    rows = answer.json()["data"]["result"]
    return {row["metric"].get("job", ""): float(row["value"][1]) for row in rows}


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus is not installed (apt-get install prometheus)")
    root = tmp_path_factory.mktemp("prometheus-shop")
    exercises = load_course(REPO).exercises
    ids = [e.id for e in exercises]
    shop_copy(root, [e.solution for e in exercises[: ids.index("10-metrics") + 1]])
    folder = root / "prometheus-multiproc"
    folder.mkdir()
    shop, web = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(root / "shop_app"),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "METRICS_TOKEN": TOKEN,
    }
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{shop}",
                "config.wsgi:application",
            ],
            cwd=root,
            env=env,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        # /metrics is left out of the counts, so waiting on it adds none.
        _wait_for(f"http://127.0.0.1:{shop}/metrics")
        for _ in range(REQUESTS):
            httpx.get(f"http://127.0.0.1:{shop}/no-such-page/")
        config = root / "prometheus.yml"
        config.write_text(CONFIG.format(token=TOKEN, shop=shop))
        processes.append(
            subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={root / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{web}",
                ],
                stderr=subprocess.DEVNULL,
            )
        )
        prometheus = f"http://127.0.0.1:{web}"
        _wait_for(f"{prometheus}/-/ready")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            up = _query(prometheus, "up")
            if len(up) == 2:
                break
            time.sleep(0.5)
        counted = _query(
            prometheus,
            'sum by (job) (shop_request_latency_seconds_count{view="<unmatched>"})',
        )
        yield up, counted
    finally:
        for process in processes:
            process.kill()
            process.wait()


def test_prometheus_scrapes_the_requests_of_both_workers_with_the_token(scraped):
    up, counted = scraped

    assert up["shop"] == 1
    assert counted["shop"] == REQUESTS


def test_a_scrape_without_the_token_fails(scraped):
    up, counted = scraped

    assert up["anonymous"] == 0
    assert "anonymous" not in counted
