"""Measure lesson 8's shipping page before and after its patches; print a table.

    .venv/bin/python benchmarks/lesson8_quotes.py [--views 20] [--concurrency 1 8 32]

The shop at the start of lesson 8 (every earlier lesson's patches applied)
and the shop with lesson 8's patches too are copied to scratch folders and
served side by side, each by one Uvicorn process through Django's ASGI
handler, on the course's database (seed it first: `course seed`). The
carriers are the course's own service (`checker.services.carriers`), 0.2 s
per carrier. For each shop the script times `--views` page views one at a
time, then `--concurrency` views at once, and prints the median and the
slowest, and the most carrier requests the service had in flight. The times
are this machine's own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker.course.manifest import load_course  # noqa: E402
from checker.services import ensure_up, service_urls  # noqa: E402
from checker.services.carriers import CarrierService  # noqa: E402

LESSON = "08"


def _shop(root: Path, patches: list[str]) -> Path:
    shutil.copytree(
        REPO / "shop_app",
        root / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "media"),
    )
    for patch in patches:
        subprocess.run(["git", "apply", "-p1", str(REPO / patch)], cwd=root, check=True)
    return root


def _serve(root: Path, socket: Path, carriers: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(root / "shop_app"),
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "COURSE_ROOT": str(REPO),
        "CARRIERS_SOCKET": str(carriers),
    }
    argv = [sys.executable, "-m", "uvicorn", "--uds", str(socket)]
    argv += ["--no-access-log", "--log-level", "warning", "config.asgi:application"]
    process = subprocess.Popen(
        argv,
        cwd=root,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if socket.exists():
            return process
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the shop in {root} did not start under Uvicorn")


def _view(socket: Path, path: str) -> float:
    transport = httpx.HTTPTransport(uds=str(socket))
    with httpx.Client(transport=transport, base_url="http://localhost") as client:
        started = time.monotonic()
        response = client.get(path, timeout=30)
        response.raise_for_status()
        return time.monotonic() - started


def _percentile(times: list[float], share: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _measure(
    socket: Path, path: str, carriers: CarrierService, views: int, concurrency: int
) -> list[str]:
    """Return p50, p99 and the most carrier requests in flight, for `concurrency`."""
    mark = carriers.mark()
    total = max(views, 2 * concurrency)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        times = list(pool.map(lambda _: _view(socket, path), range(total)))
    in_flight = max(r.in_flight for r in carriers.requests(mark))
    return [
        f"{statistics.median(times) * 1000:.0f} ms",
        f"{_percentile(times, 0.99) * 1000:.0f} ms",
        f"{in_flight}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    options = parser.parse_args()
    ensure_up()
    with psycopg.connect(service_urls().database) as connection:
        row = connection.execute(
            "SELECT slug FROM catalog_product WHERE is_active ORDER BY id LIMIT 1"
        ).fetchone()
    if row is None:
        raise SystemExit("the shop holds no product: run `course seed` first")
    path = f"/products/{row[0]}/shipping/?city=Oslo"
    course = load_course(REPO)
    before = [e.solution for e in course.exercises if e.lesson < LESSON]
    after = [e.solution for e in course.exercises if e.lesson <= LESSON]
    with tempfile.TemporaryDirectory(prefix="lesson8-") as scratch:
        folder = Path(scratch)
        carriers = CarrierService(socket=folder / "carriers.sock")
        rows = []
        with carriers:
            for name, patches in (("before", before), ("after", after)):
                root = _shop(folder / name, patches)
                socket = folder / f"{name}.sock"
                process = _serve(root, socket, carriers.socket or socket)
                try:
                    _view(socket, path)  # the first view imports and connects
                    for concurrency in options.concurrency:
                        measured = _measure(
                            socket, path, carriers, options.views, concurrency
                        )
                        rows.append([name, str(concurrency), *measured])
                finally:
                    process.kill()
                    process.wait()
    heads = ["shop", "views at once", "p50", "p99", "carrier requests in flight"]
    print(f"GET {path.split('?')[0]}, 3 carriers at 0.2 s, one Uvicorn process")
    print("| " + " | ".join(heads) + " |")
    print("| " + " | ".join("---" for _ in heads) + " |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
