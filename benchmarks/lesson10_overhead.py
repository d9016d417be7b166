"""Measure what lesson 10's instrumentation costs the product page; print a table.

    .venv/bin/python benchmarks/lesson10_overhead.py [--requests 600] [--rounds 11]

Scratch copies of the shop are served side by side by Gunicorn (2 workers
each) on one scratch database, migrated and seeded with `tiny`: "off" is
the shop at the start of lesson 10 (every earlier lesson's patches applied),
"on" has lesson 10's patches too, with PROMETHEUS_MULTIPROC_DIR set and
SENTRY_DSN pointing at the course's error receiver (so every request is
timed and its queries counted, and an exception would be reported; with
SENTRY_TRACES_SAMPLE_RATE in the environment, that share of the requests is
traced as well). Two more rows say where
the cost goes: "metrics only" is the "on" shop without SENTRY_DSN, "errors
only" the shop with the error-reporting patch alone. The last row, "errors
with the Django integration", is that shop with the SDK's Django integration
turned on although nothing is traced, as a `sentry_sdk.init()` left to its
defaults would: what reporting a view's exception through the integration
rather than through Django's log costs every request. Each round sends
`--requests` requests to one product page, 4 at a time, to every shop in
turn, in an order reversed every other round, so that the machine's other
work falls on all alike.

Two figures per shop: requests per second, and the CPU time Gunicorn's
processes (master and workers, read from the OS) spent per request, each
the median of the rounds. On a busy machine the first moves with everything
else that runs; the second counts only the shop's own work, so its cost is
the steadier one. The costs against "off" are paired: the median of each
round's difference with the "off" shop of the same round, steadier than a
difference of medians when the machine's speed drifts.
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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
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


def _cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """Return the CPU time Gunicorn's master and its workers have used so far."""
    master = psutil.Process(process.pid)
    total = 0.0
    for each in (master, *master.children(recursive=True)):
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _round(
    socket: Path, process: subprocess.Popen[bytes], path: str, requests: int
) -> tuple[float, float]:
    """Send `requests` GETs; return requests/s and CPU milliseconds per request."""

    # One client per thread, made before the clock starts: making an httpx
    # client costs more than the request it sends.
    local = threading.local()
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        made: httpx.Client | None = getattr(local, "client", None)
        if made is None:
            made = local.client = _client(socket)
            clients.append(made)
        return made

    def one(_: int) -> None:
        client().get(path).raise_for_status()

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(CONCURRENCY)))
        cpu = _cpu_seconds(process)
        started = time.perf_counter()
        list(pool.map(one, range(requests)))
        rate = requests / (time.perf_counter() - started)
        cpu = 1000 * (_cpu_seconds(process) - cpu) / requests
    for each in clients:
        each.close()
    return rate, cpu


def _paired(values: list[float], off: list[float], *, lost: bool = False) -> float:
    """Return the median of the rounds' changes against "off", in percent."""
    changes = [
        (base - value if lost else value - base) / base
        for value, base in zip(values, off, strict=True)
    ]
    return 100 * statistics.median(changes)


SHOPS = (
    "off",
    "metrics only",
    "errors only",
    "on",
    "errors with the Django integration",
)
# In the reference's config/errors.py, the line that adds the Django
# integration only when requests are traced.
TRACED_ONLY = "    if rate:\n"


def _django_integration_always(root: Path) -> Path:
    """Make the shop at `root` add the Django integration whether traced or not."""
    errors = root / "shop_app" / "config" / "errors.py"
    text = errors.read_text()
    if TRACED_ONLY not in text:
        raise SystemExit(
            f"{errors} no longer adds the Django integration"
            f" under {TRACED_ONLY.strip()!r}"
        )
    errors.write_text(text.replace(TRACED_ONLY, "    if True:\n"))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=11)
    options = parser.parse_args()
    ensure_up()
    earlier, own = lesson_patches(LESSON)
    errors_patch = [p for p in own if "error-reporting" in p]
    scratch = Path(tempfile.mkdtemp(prefix="lesson10-overhead-"))
    processes = []
    served: dict[str, subprocess.Popen[bytes]] = {}
    try:
        roots = {
            "off": shop_copy(scratch / "off", earlier),
            "errors only": shop_copy(scratch / "errors", earlier + errors_patch),
            "errors with the Django integration": _django_integration_always(
                shop_copy(scratch / "errors-django", earlier + errors_patch)
            ),
            "on": shop_copy(scratch / "on", earlier + own),
        }
        roots["metrics only"] = roots["on"]
        database = shop_migrate(roots["on"], "lesson10_overhead")
        subprocess.run(
            [sys.executable, "shop_app/manage.py", "seed_shop", "--scale", "tiny",
             "--no-progress"],
            cwd=roots["on"], check=True, env={**os.environ, "DATABASE_URL": database,
            "PYTHONPATH": str(roots["on"] / "shop_app"),
            "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        )  # fmt: skip
        receiver = ErrorReceiver(socket=scratch / "errors.sock")
        relay_port = 9011
        with receiver:
            relay = subprocess.Popen(
                [sys.executable, "-m", "checker.services.errors", "--forward",
                 str(receiver.socket), "--port", str(relay_port)],
                cwd=REPO,
            )  # fmt: skip
            processes.append(relay)
            metrics = {
                "PROMETHEUS_MULTIPROC_DIR": str(scratch / "prometheus"),
                "METRICS_TOKEN": "benchmark",
            }
            (scratch / "prometheus").mkdir()
            errors = {
                "SENTRY_DSN": receiver.dsn(relay_port),
                "SENTRY_RELEASE": "benchmark",
            }
            envs = {"off": {}, "metrics only": metrics, "errors only": errors,
                    "on": {**metrics, **errors},
                    "errors with the Django integration": errors}  # fmt: skip
            for number, name in enumerate(SHOPS):
                run = scratch / f"run-{number}"
                run.mkdir()
                served[name] = _serve(roots[name], run, database, envs[name])
                processes.append(served[name])
            sockets = {
                name: scratch / f"run-{number}" / "gunicorn.sock"
                for number, name in enumerate(SHOPS)
            }
            with _client(sockets["off"]) as client:
                page = client.get("/products/").text
            found = re.search(r'href="/products/([^"/]+)/"', page)
            if found is None:
                raise SystemExit("The product list shows no product: run course seed.")
            slug = found[1]
            path = f"/products/{slug}/"
            rates: dict[str, list[float]] = {name: [] for name in SHOPS}
            cpus: dict[str, list[float]] = {name: [] for name in SHOPS}
            for number in range(options.rounds):
                for name in SHOPS if number % 2 == 0 else SHOPS[::-1]:
                    per_second, per_request = _round(
                        sockets[name], served[name], path, options.requests
                    )
                    rates[name].append(per_second)
                    cpus[name].append(per_request)
            traced = sum(
                1 for env in receiver.envelopes() if env.payloads("transaction")
            )
    finally:
        for process in processes:
            process.kill()
            process.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    rate = {name: statistics.median(rates[name]) for name in SHOPS}
    cpu = {name: statistics.median(cpus[name]) for name in SHOPS}
    lost = {name: _paired(rates[name], rates["off"], lost=True) for name in SHOPS}
    extra = {name: _paired(cpus[name], cpus["off"]) for name in SHOPS}
    print(
        f"GET {path}, {options.requests} requests x {options.rounds} rounds,"
        f" {CONCURRENCY} at a time, Gunicorn with 2 workers"
    )
    print(
        "| instrumentation | requests/s | lost, paired"
        " | Gunicorn CPU ms/request | CPU added, paired |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in SHOPS:
        print(
            f"| {name} | {rate[name]:.0f} | {lost[name]:.1f}%"
            f" | {cpu[name]:.2f} | {extra[name]:+.1f}% |"
        )
    print(f"cost: {lost['on']:.1f}% of the requests per second (target: at most 5%)")
    print(f"cost: {extra['on']:.1f}% more CPU time per request in Gunicorn")
    print(f"transactions traced and received: {traced}")


if __name__ == "__main__":
    main()
