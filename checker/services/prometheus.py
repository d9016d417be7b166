"""A Prometheus server scraping the deployed shop's /metrics.

There is no Prometheus on PyPI: the course runs the machine's own (Debian's
`prometheus`, on PATH or in /usr/bin) on loopback, its config, pid, log and
time-series database in one folder (`.course/prometheus/`), or uses the one
`PROMETHEUS_URL` names. It scrapes the stack through Nginx over HTTPS, with the
bearer token /metrics asks for; Gunicorn's multiprocess collector adds every
worker's series up, so one target holds them all.

    server = Prometheus(folder, target="127.0.0.1:8443", certificate=cert)
    server.start()
    prometheus_query(server.url, "sum(shop_request_latency_seconds_count)")
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from checker.services.base import ServiceError, log_tail, pid_alive, read_pid
from checker.services.layout import Layout
from checker.services.stack import free_ports

__all__ = [
    "INSTALL_HINT",
    "Prometheus",
    "metrics_token",
    "prometheus_binary",
    "prometheus_config",
    "prometheus_query",
    "prometheus_stop",
    "prometheus_targets",
    "prometheus_url",
]

INSTALL_HINT = (
    "No Prometheus here: `apt-get install prometheus` (or set PROMETHEUS_URL to"
    " yours) and `course stack up` starts one scraping the shop; until then the"
    " notebook reads the shop's /metrics."
)
# Short enough that a notebook sees its requests a few seconds after sending
# them; the database keeps a day, and never more than this much disk.
SCRAPE_SECONDS = 2
RETENTION = ("1d", "256MB")
START_SECONDS = 30.0
STOP_SECONDS = 10.0


def prometheus_binary() -> Path | None:
    """Return the machine's `prometheus`, or None."""
    found = shutil.which("prometheus")
    if found:
        return Path(found)
    fallback = Path("/usr/bin/prometheus")
    return fallback if fallback.is_file() else None


def metrics_token(folder: Path) -> str:
    """Return the scrape token: $METRICS_TOKEN, or one kept in `folder`."""
    path = folder / "metrics-token"
    token = os.environ.get("METRICS_TOKEN", "")
    if not token:
        stored = path.read_text().strip() if path.is_file() else ""
        token = stored or secrets.token_urlsafe(32)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(token)
    path.chmod(0o600)
    return token


def prometheus_config(*, target: str, token_file: Path, certificate: Path) -> str:
    """Return a config scraping the shop at `target` (HTTPS) with the token."""
    config = {
        "global": {
            "scrape_interval": f"{SCRAPE_SECONDS}s",
            "scrape_timeout": f"{SCRAPE_SECONDS}s",
        },
        "scrape_configs": [
            {
                "job_name": "shop",
                "scheme": "https",
                "metrics_path": "/metrics",
                # A redirect means the shop did not see HTTPS: say so as the
                # target's error rather than follow it.
                "follow_redirects": False,
                # Read on every scrape, so a new token needs no restart.
                "authorization": {"credentials_file": str(token_file)},
                "tls_config": {"ca_file": str(certificate), "server_name": "localhost"},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    # JSON is YAML, and quotes every path whatever it holds.
    return json.dumps(config, indent=2) + "\n"


class Prometheus:
    """The machine's Prometheus on a free loopback port, scraping one target."""

    def __init__(self, folder: Path, *, target: str, certificate: Path) -> None:
        self.folder = folder.resolve()
        self.target = target
        self.certificate = certificate
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def token_file(self) -> Path:
        return self.folder / "metrics-token"

    @property
    def config_file(self) -> Path:
        return self.folder / "prometheus.yml"

    def write_config(self) -> Path:
        """Write the scrape config; return its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            prometheus_config(
                target=self.target,
                token_file=self.token_file,
                certificate=self.certificate,
            )
        )
        return self.config_file

    def start(self) -> None:
        """Start Prometheus (stopping one left in the folder); wait until ready."""
        binary = prometheus_binary()
        if binary is None:
            raise ServiceError("Prometheus", "it is not installed", INSTALL_HINT)
        prometheus_stop(self.folder)
        config = self.write_config()
        (port,) = free_ports(1)
        log = self.folder / "prometheus.log"
        argv = [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--storage.tsdb.retention.time={RETENTION[0]}",
            f"--storage.tsdb.retention.size={RETENTION[1]}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                argv,
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        (self.folder / "prometheus.pid").write_text(f"{self.process.pid}\n")
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    (self.folder / "prometheus.url").write_text(f"{self.url}\n")
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ServiceError(
            "Prometheus",
            f"it was not ready on {self.url} within {START_SECONDS:.0f} s:\n"
            f"{log_tail(log)}",
            f"read {log}; `promtool check config {config}` may say more",
        )

    def stop(self) -> list[str]:
        """Stop it; safe to call twice."""
        done = prometheus_stop(self.folder)
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None
        return done


def _is_prometheus(pid: int) -> bool:
    try:
        return str(psutil.Process(pid).name()).startswith("prometheus")
    except psutil.Error:
        return False


def prometheus_stop(folder: Path) -> list[str]:
    """Stop the Prometheus started in `folder` (by its pid file)."""
    pid_file = folder / "prometheus.pid"
    pid = read_pid(pid_file)
    (folder / "prometheus.url").unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)
    # A pid file outliving its server may name another process by now.
    if pid is None or not pid_alive(pid) or not _is_prometheus(pid):
        return []
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    return [f"stopped prometheus (pid {pid})"]


def prometheus_url(folder: Path | None = None) -> str:
    """Return $PROMETHEUS_URL, or the course's running Prometheus, or ""."""
    if os.environ.get("PROMETHEUS_URL"):
        return os.environ["PROMETHEUS_URL"].rstrip("/")
    folder = folder or Layout.default().home / "prometheus"
    pid = read_pid(folder / "prometheus.pid")
    if pid is None or not pid_alive(pid):
        return ""
    try:
        return (folder / "prometheus.url").read_text().strip()
    except OSError:
        return ""


def _api(url: str, path: str, params: dict[str, str] | None = None) -> Any:
    answer = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=5)
    body = answer.json()
    if body.get("status") != "success":
        raise ServiceError(
            "Prometheus",
            f"{path} failed: {body.get('error', answer.text[:200])}",
            "check the expression",
        )
    return body["data"]


def prometheus_query(url: str, expression: str) -> list[dict[str, Any]]:
    """Return the instant vector `expression` evaluates to (/api/v1/query)."""
    return list(_api(url, "query", {"query": expression})["result"])


def prometheus_targets(url: str) -> list[dict[str, Any]]:
    """Return the active scrape targets, each with its `health` and `lastError`."""
    return list(_api(url, "targets", {"state": "active"})["activeTargets"])
