"""`course stack` and `course load`: the shop deployed on the learner's machine.

`course stack up` starts Gunicorn and Nginx (`checker.services.stack`) on
fixed loopback ports, and Prometheus scraping them when the machine has one
(`checker.services.prometheus`), and leaves them running; `course load` starts its own
development server, Gunicorn and Nginx on free ports, loads each with wrk
(`checker.services.loadtest`) and stops them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from checker.services import ensure_up_or_exit
from checker.services.base import ServiceError, read_pid
from checker.services.layout import Layout, project_root
from checker.services.loadtest import LoadFigures, wrk_run
from checker.services.nginx import nginx_binary
from checker.services.prometheus import (
    INSTALL_HINT,
    Prometheus,
    metrics_token,
    prometheus_binary,
    prometheus_stop,
    prometheus_url,
)
from checker.services.stack import Stack, free_ports, stack_pids, stack_stop

__all__ = ["load_command", "load_targets", "stack_command"]

# Gunicorn, Nginx's HTTP and its HTTPS port for `course stack up`.
PORTS = (8001, 8080, 8443)
# Gunicorn alone and the development server are asked as Nginx would ask them
# over TLS, so that the deploy settings serve the page instead of redirecting.
SECURE = {"X-Forwarded-Proto": "https"}
START_SECONDS = 30.0


def _folder(name: str) -> Path:
    return Layout.default().home / name


def stack_command(args: argparse.Namespace, console: Console) -> int:
    """Start, stop or report Gunicorn and Nginx serving the shop."""
    folder, scraper = _folder("stack"), _folder("prometheus")
    if args.action == "down":
        done = stack_stop(folder) + prometheus_stop(scraper)
        console.print("\n".join(done) or "Nothing to do: the stack is not running.")
        return 0
    if args.action == "status":
        table = Table("part", "state", "pid", "address")
        pids = stack_pids(folder)
        addresses = {"gunicorn": f"127.0.0.1:{PORTS[0]}", "nginx": _nginx_urls()}
        for name, pid in pids.items():
            state = "[green]running[/]" if pid else "[red]stopped[/]"
            table.add_row(name, state, str(pid or "-"), addresses[name])
        url, yours = prometheus_url(scraper), bool(os.environ.get("PROMETHEUS_URL"))
        pid = None if yours else read_pid(scraper / "prometheus.pid")
        state = "yours (PROMETHEUS_URL)" if yours else "[green]running[/]"
        table.add_row(
            "prometheus",
            state if url else "[red]stopped[/]",
            str(pid or "-"),
            url or "-",
        )
        console.print(table)
        binary = nginx_binary()
        console.print(f"Nginx: {binary.source} {binary.version()} ({binary.path})")
        return 0
    ensure_up_or_exit()
    token = metrics_token(scraper)
    stack = Stack(
        root=project_root(), folder=folder, ports=PORTS, env={"METRICS_TOKEN": token}
    )
    stack.start()
    assert stack.binary is not None
    console.print(
        f"Gunicorn on 127.0.0.1:{PORTS[0]}, Nginx ({stack.binary.source}"
        f" {stack.binary.version()}) on {_nginx_urls()}.\n"
        f"Open https://localhost:{PORTS[2]}/products/ and accept the course's"
        f" certificate ({stack.addresses.certificate}).\n"
        f"{_prometheus_start(scraper, stack)}\n"
        f"Logs in {folder}; `course stack down` stops it."
    )
    return 0


def _prometheus_start(scraper: Path, stack: Stack) -> str:
    """Start Prometheus scraping `stack`, or describe the learner's; say which."""
    server = Prometheus(
        scraper, target=stack.addresses.https, certificate=stack.addresses.certificate
    )
    if os.environ.get("PROMETHEUS_URL"):
        config = server.write_config()
        return (
            f"Prometheus: yours at {os.environ['PROMETHEUS_URL']} (PROMETHEUS_URL);"
            f" add the scrape job in {config} to its config."
        )
    if prometheus_binary() is None:
        return INSTALL_HINT
    server.start()
    return (
        f"Prometheus on {server.url}, scraping /metrics every few seconds with"
        f" the token in {server.token_file}."
    )


def _nginx_urls() -> str:
    return f"http://localhost:{PORTS[1]}, https://localhost:{PORTS[2]}"


@contextmanager
def _dev_server(root: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """Run `manage.py runserver` with the same settings; yield its URL."""
    log = _folder("load") / "runserver.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    shop = str(root / "shop_app")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "shop_app/manage.py", "runserver"),
                *("--noreload", f"127.0.0.1:{port}"),
            ],
            cwd=root,
            env={**os.environ, "PYTHONPATH": shop, **env},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"{url}/no-such-page/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise ServiceError(
                "The development server", f"it did not start; see {log}", "retry"
            )
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def load_targets(root: Path, folder: Path) -> Iterator[dict[str, tuple[str, bool]]]:
    """Start the dev server, Gunicorn and Nginx on free ports for a load test.

    Yield each target's URL, and whether it is asked as if over TLS.
    """
    dev, gunicorn, http, https = free_ports(4)
    stack = Stack(root=root, folder=folder, ports=(gunicorn, http, https))
    with stack, _dev_server(root, dev, stack.environment()) as dev_url:
        yield {
            "development server": (dev_url, True),
            "Gunicorn alone": (f"http://127.0.0.1:{gunicorn}", True),
            "Gunicorn behind Nginx": (f"https://localhost:{https}", False),
        }


def load_command(args: argparse.Namespace, console: Console) -> int:
    """Load the dev server, Gunicorn and Gunicorn behind Nginx; print the figures."""
    if not args.path.startswith("/"):
        console.print(
            f"[red]error:[/] the path must start with /, as in /products/;"
            f" got {args.path!r}. Nothing was started."
        )
        return 2
    ensure_up_or_exit()
    results: list[tuple[str, LoadFigures]] = []
    with load_targets(project_root(), _folder("load")) as targets:
        for name, (url, secure) in targets.items():
            console.print(f"Loading {name} ({url}{args.path}) ...")
            figures = wrk_run(
                url + args.path,
                requests=args.requests,
                seconds=args.seconds,
                connections=args.connections,
                headers=SECURE if secure else None,
            )
            results.append((name, figures))
    console.print(load_table(results, title=f"GET {args.path}"))
    console.print(
        "These are your machine's figures, with wrk on the same cores as the"
        " servers; run it twice before you trust a difference."
    )
    return 0


def load_table(results: list[tuple[str, LoadFigures]], *, title: str) -> Table:
    """Return the figures of a load test as a table."""
    table = Table(
        "target", "requests", "requests/s", "p50 ms", "p99 ms", "errors", "≥400",
        title=title,
    )  # fmt: skip
    for name, figures in results:
        table.add_row(
            name,
            f"{figures.requests:,}",
            f"{figures.per_second:,.0f}",
            f"{figures.p50_ms:.1f}",
            f"{figures.p99_ms:.1f}",
            str(figures.errors),
            str(figures.status_errors),
        )
    return table
