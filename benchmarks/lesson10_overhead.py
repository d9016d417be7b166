"""Measure what lesson 10's instrumentation costs the product page; print a table.

    .venv/bin/python benchmarks/lesson10_overhead.py [--requests 300] [--rounds 3]

Two scratch copies of the shop are served side by side by Gunicorn (2
workers each) on one scratch database, migrated and seeded with `tiny`:
"off" is the shop at the start of lesson 10 (every earlier lesson's patches
applied), "on" has lesson 10's patches too, with PROMETHEUS_MULTIPROC_DIR
set and SENTRY_DSN pointing at the course's error receiver (so every request
is timed, its queries counted, and one in ten traced). Rounds alternate
between the two so that the machine's other work falls on both alike; each
round sends `--requests` requests to one product page, 4 at a time. The
figures are requests per second on this machine, and the cost is the share
the "on" shop loses.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from scratch_shop import lesson_patches, shop_copy, shop_migrate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker.services import ensure_up, service_urls  # noqa: E402
from checker.services.errors import ErrorReceiver  # noqa: E402

LESSON = "10"
CONCURRENCY = 4


def _serve(
    root: Path, folder: Path, database: str, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    socket = folder / "gunicorn.sock"
    argv = [
        sys.executable, "-m", "gunicorn", "--bind", f"unix:{socket}",
        "--workers", "2", "--log-level", "warning", "config.wsgi:application",
    ]  # fmt: skip
    environment = {
        **os.environ,
        **env,
        "PYTHONPATH": str(root / "shop_app"),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": database,
        "REDIS_URL": service_urls().redis,
    }
    process = subprocess.Popen(argv, cwd=root, env=environment)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if socket.exists():
            try:
                _client(socket).get("/products/").raise_for_status()
                return process
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"Gunicorn did not serve the shop in {root} within 30 s")


def _client(socket: Path) -> httpx.Client:
    transport = httpx.HTTPTransport(uds=str(socket))
    return httpx.Client(transport=transport, base_url="http://localhost", timeout=30)


def _rate(socket: Path, path: str, requests: int) -> float:
    def one(_: int) -> None:
        with _client(socket) as client:
            client.get(path).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(requests)))
    return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    ensure_up()
    earlier, own = lesson_patches(LESSON)
    scratch = Path(tempfile.mkdtemp(prefix="lesson10-overhead-"))
    processes = []
    try:
        off_root = shop_copy(scratch / "off", earlier)
        on_root = shop_copy(scratch / "on", earlier + own)
        database = shop_migrate(on_root, "lesson10_overhead")
        subprocess.run(
            [sys.executable, "shop_app/manage.py", "seed_shop", "--scale", "tiny",
             "--no-progress"],
            cwd=on_root, check=True, env={**os.environ, "DATABASE_URL": database,
            "PYTHONPATH": str(on_root / "shop_app"),
            "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        )  # fmt: skip
        multiproc = scratch / "prometheus"
        multiproc.mkdir()
        receiver = ErrorReceiver(socket=scratch / "errors.sock")
        relay_port = 9011
        with receiver:
            relay = subprocess.Popen(
                [sys.executable, "-m", "checker.services.errors", "--forward",
                 str(receiver.socket), "--port", str(relay_port)],
                cwd=REPO,
            )  # fmt: skip
            processes.append(relay)
            (scratch / "off-run").mkdir()
            (scratch / "on-run").mkdir()
            processes.append(_serve(off_root, scratch / "off-run", database, {}))
            on_env = {
                "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
                "METRICS_TOKEN": "benchmark",
                "SENTRY_DSN": receiver.dsn(relay_port),
                "SENTRY_RELEASE": "benchmark",
            }
            processes.append(_serve(on_root, scratch / "on-run", database, on_env))
            with _client(scratch / "off-run" / "gunicorn.sock") as client:
                page = client.get("/products/").text
            found = re.search(r'href="/products/([^"/]+)/"', page)
            if found is None:
                raise SystemExit("The product list shows no product: run course seed.")
            slug = found[1]
            path = f"/products/{slug}/"
            rates: dict[str, list[float]] = {"off": [], "on": []}
            for _ in range(options.rounds):
                for name in ("off", "on"):
                    socket = scratch / f"{name}-run" / "gunicorn.sock"
                    rates[name].append(_rate(socket, path, options.requests))
            traced = sum(
                1 for env in receiver.envelopes() if env.payloads("transaction")
            )
    finally:
        for process in processes:
            process.kill()
            process.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    print(
        f"GET {path}, {options.requests} requests x {options.rounds} rounds,"
        f" {CONCURRENCY} at a time, Gunicorn with 2 workers"
    )
    print("| instrumentation | requests/s (median of rounds) | every round |")
    print("| --- | ---: | --- |")
    for name, median in (("off", off), ("on", on)):
        rounds = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"| {name} | {median:.0f} | {rounds} |")
    cost = 100 * (off - on) / off
    print(f"cost: {cost:.1f}% of the requests per second (target: at most 5%)")
    print(f"transactions traced and received: {traced}")


if __name__ == "__main__":
    main()
