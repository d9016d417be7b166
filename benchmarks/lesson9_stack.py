"""Load the shop deployed under Gunicorn behind Nginx, naive and solved; print ratios.

    .venv/bin/python benchmarks/lesson9_stack.py [--scale small] [--seconds 5]
        [--cost-seconds 3]

Four scratch shops are deployed one after another with lesson 9's Gunicorn
and Nginx files (`checker.services.stack`), each on its own database seeded
with the same data: the naive shop, the shop with every lesson solved, the
same with Django's cache switched off (a DummyCache), and the same with an
Nginx micro-cache in front (anonymous GETs kept for one second). Each gets a
trivial view at /floor/, the fastest a page can be on that stack. wrk loads
each page over HTTPS through Nginx with the same connections for the same
time (`checker.services.loadtest`), and the script prints requests/s, p50,
p99 and errors, every naive-to-solved ratio and each page's ratio to its
stack's floor. The figures are this machine's own, with wrk on the same
cores as the servers.

After each load, one connection asks the page again for --cost-seconds, and
the script prints the CPU time one request costs Gunicorn (its workers,
those recycled meanwhile included), Nginx and PostgreSQL (the backends of
that shop's database), read from the operating system: these move far less
than requests/s when other work shares the cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
from scratch_shop import lesson_patches, shop_copy, shop_migrate

from checker.course.deploy import load_table
from checker.services import database_url, ensure_up
from checker.services.loadtest import LoadFigures, wrk_run
from checker.services.stack import NGINX_CONFIG, Stack, free_ports, stack_pids

FLOOR_VIEW = """
from django.http import HttpResponse
from django.urls import path

urlpatterns.insert(0, path("floor/", lambda request: HttpResponse("ok")))
"""
UNCACHED = """from config.settings.deploy import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
"""
# Anonymous GETs kept one second: under load, one request a second per page
# reaches Django and every other one is answered from Nginx's cache.
MICRO_CACHE = (
    "proxy_cache_path {{ cache_path }} levels=1:2 keys_zone=micro:10m max_size=64m;\n"
)
MICRO_LOCATION = """        proxy_cache micro;
        proxy_cache_valid 200 1s;
        proxy_cache_lock on;
        proxy_cache_use_stale updating;
        proxy_cache_bypass $cookie_sessionid;
        proxy_no_cache $cookie_sessionid;
        proxy_pass http://shop;"""


@dataclass(frozen=True)
class PageCost:
    """CPU milliseconds one request of a page cost each part of the stack."""

    requests: int
    gunicorn: float
    nginx: float
    postgres: float

    @property
    def total(self) -> float:
        return self.gunicorn + self.nginx + self.postgres


def _tree_seconds(pid: int | None) -> float:
    """Return the CPU seconds of `pid` and its children, live and reaped."""
    if pid is None:
        return 0.0
    try:
        master = psutil.Process(pid)
        processes = [master, *master.children(recursive=True)]
        # A master's children_* times hold the workers it has reaped, so a
        # Gunicorn worker recycled by max_requests still counts.
        times = master.cpu_times()
        reaped = float(times.children_user + times.children_system)
    except psutil.Error:
        return 0.0
    return reaped + sum(_own_seconds(process) for process in processes)


def _own_seconds(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _backend_seconds(database: str) -> dict[int, float]:
    """Return the CPU seconds of each PostgreSQL backend serving `database`."""
    # Asked of the server itself: a process title would also match a database
    # of the same name in another cluster on this machine.
    with psycopg.connect(database_url(database, libpq=True)) as connection:
        pids = connection.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    found: dict[int, float] = {}
    for (pid,) in pids:
        try:
            found[pid] = _own_seconds(psutil.Process(pid))
        except psutil.Error:
            continue
    return found


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds Gunicorn, Nginx and each PostgreSQL backend have used so far."""

    gunicorn: float
    nginx: float
    backends: dict[int, float]

    def since(self, start: CpuSample) -> tuple[float, float, float]:
        """Return the seconds spent since `start` by Gunicorn, Nginx, PostgreSQL."""
        # A backend that ended meanwhile (its worker recycled) is not counted.
        postgres = sum(
            spent - start.backends.get(pid, 0.0) for pid, spent in self.backends.items()
        )
        return self.gunicorn - start.gunicorn, self.nginx - start.nginx, postgres


def _cpu_seconds(folder: Path, database: str) -> CpuSample:
    pids = stack_pids(folder)
    return CpuSample(
        _tree_seconds(pids["gunicorn"]),
        _tree_seconds(pids["nginx"]),
        _backend_seconds(database),
    )


def _idle(folder: Path, *, most_seconds: float = 30) -> None:
    """Wait until Gunicorn's workers stop using CPU: no request is in flight."""
    pid = stack_pids(folder)["gunicorn"]
    deadline = time.monotonic() + most_seconds
    last = _tree_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = _tree_seconds(pid)
        # The kernel counts CPU time in ticks of 10 ms; a worker waiting for
        # its next request spends less than a tick.
        if now - last < 0.015:
            return
        last = now


def _cost(
    url: str, folder: Path, database: str, args: argparse.Namespace
) -> PageCost | None:
    """Return what one request of `url` costs, asked one at a time; None if slow."""
    # Requests the load left in flight end first; then one connection asks
    # again and again, so when wrk stops exactly one request is left running.
    _idle(folder)
    before = _cpu_seconds(folder, database)
    load = wrk_run(
        url, requests=args.requests, seconds=args.cost_seconds, connections=1
    )
    _idle(folder)
    after = _cpu_seconds(folder, database)
    if not load.requests:
        return None
    asked = load.requests + 1
    spent = (seconds * 1000 / asked for seconds in after.since(before))
    return PageCost(asked, *spent)


def bench_shop(
    root: Path, patches: list[str], database: str, scale: str
) -> dict[str, str]:
    """Copy, patch, migrate and seed a shop with a floor view; return its env."""
    shop_copy(root, patches)
    with (root / "shop_app/config/urls.py").open("a") as urls:
        urls.write(FLOOR_VIEW)
    (root / "shop_app/config/settings/bench_uncached.py").write_text(UNCACHED)
    url = shop_migrate(root, database)
    env = {"DATABASE_URL": url, "CACHE_KEY_PREFIX": database}
    subprocess.run(
        [sys.executable, "shop_app/manage.py", "seed_shop", "--scale", scale],
        cwd=root,
        env={
            **os.environ,
            **env,
            "PYTHONPATH": str(root / "shop_app"),
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
        },
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return env


def _micro_cached(root: Path) -> None:
    path = root / NGINX_CONFIG
    text = MICRO_CACHE + path.read_text()
    text = text.replace("        proxy_pass http://shop;", MICRO_LOCATION, 1)
    path.write_text(text)


def _product_slug(root: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "shop_app/manage.py", "shell", "-c",
         "from catalog.models import Product;"
         "print(Product.objects.filter(is_active=True).order_by('id')[0].slug)"],
        cwd=root, capture_output=True, text=True, check=True,
        env={**os.environ, **env, "PYTHONPATH": str(root / "shop_app"),
             "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def _load(
    root: Path,
    env: dict[str, str],
    paths: dict[str, str],
    args: argparse.Namespace,
    database: str,
) -> dict[str, tuple[LoadFigures, PageCost | None]]:
    """Deploy the shop at `root`; load each of `paths` through Nginx."""
    ports = free_ports(3)
    figures: dict[str, tuple[LoadFigures, PageCost | None]] = {}
    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(
            root=root,
            folder=Path(folder),
            env=env,
            ports=(ports[0], ports[1], ports[2]),
        )
        with stack:
            for name, path in paths.items():
                print(f"  {name}: GET {path}", file=sys.stderr)
                url = f"https://localhost:{ports[2]}{path}"
                # One request first, so a cache is warm before it is timed.
                wrk_run(url, requests=1, seconds=1, connections=1, threads=1)
                load = wrk_run(
                    url,
                    requests=args.requests,
                    seconds=args.seconds,
                    connections=args.connections,
                )
                figures[name] = (load, _cost(url, Path(folder), database, args))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "large"))
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--cost-seconds", type=float, default=3)
    args = parser.parse_args()
    ensure_up()
    _, own = lesson_patches("09")
    solved, _ = lesson_patches("10")
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        print("Naive shop (lesson 9's deployment only):", file=sys.stderr)
        naive_env = bench_shop(base / "naive", own, "bench9_naive", args.scale)
        slug = _product_slug(base / "naive", naive_env)
        pages = {"product list": "/products/", "product page": f"/products/{slug}/"}
        with_floor = {"floor": "/floor/", **pages}
        naive = _load(base / "naive", naive_env, with_floor, args, "bench9_naive")
        print("Solved shop:", file=sys.stderr)
        solved_env = bench_shop(base / "solved", solved, "bench9_solved", args.scale)
        cached = _load(base / "solved", solved_env, with_floor, args, "bench9_solved")
        uncached_env = {
            **solved_env,
            "DJANGO_SETTINGS_MODULE": "config.settings.bench_uncached",
        }
        uncached = _load(base / "solved", uncached_env, pages, args, "bench9_solved")
        _micro_cached(base / "solved")
        micro = _load(
            base / "solved",
            solved_env,
            {"floor": "/floor/", "product page": pages["product page"]},
            args,
            "bench9_solved",
        )
    rows = [
        ("floor (naive shop)", naive["floor"]),
        ("naive product list", naive["product list"]),
        ("naive product page", naive["product page"]),
        ("floor (solved shop)", cached["floor"]),
        ("solved list, Django's cache", cached["product list"]),
        ("solved page, Django's cache", cached["product page"]),
        ("solved list, no cache", uncached["product list"]),
        ("solved page, no cache", uncached["product page"]),
        ("floor (micro-cached stack)", micro["floor"]),
        ("solved page, Nginx micro-cache", micro["product page"]),
    ]
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        load_table(
            [(name, load) for name, (load, _) in rows],
            title=f"GET over HTTPS through Nginx, {args.connections} connections,"
            f" {args.scale} data",
        )
    )
    floor, floor_cost = cached["floor"]
    costs = Table(
        "target", "requests", "Gunicorn", "Nginx", "PostgreSQL", "total",
        "floor's / page's",
        title="CPU ms per request, asked one at a time (wrk's own not counted)",
    )  # fmt: skip
    for name, (_, cost) in rows:
        if cost is None or floor_cost is None:
            costs.add_row(name, "0", "", "", "", "", "no request finished")
            continue
        costs.add_row(
            name,
            f"{cost.requests:,}",
            f"{cost.gunicorn:.2f}",
            f"{cost.nginx:.2f}",
            f"{cost.postgres:.2f}",
            f"{cost.total:.2f}",
            f"{floor_cost.total / cost.total:.2f}x" if cost.total else "n/a",
        )
    console.print(costs)

    def ratio(name: str, value: LoadFigures, of: LoadFigures) -> None:
        if not of.requests:
            console.print(f"{name}: n/a, no naive request finished in {args.seconds} s")
            return
        console.print(f"{name}: {value.per_second / of.per_second:.2f}x")

    for page in pages:
        ratio(f"{page}, naive -> solved (cached)", cached[page][0], naive[page][0])
        ratio(f"{page}, naive -> solved (no cache)", uncached[page][0], naive[page][0])
    for name, (load, _) in rows:
        if not name.startswith("floor"):
            per_second = load.per_second / (floor.per_second or 1.0)
            console.print(f"{name} / solved floor: {per_second:.2f}x")
    console.print(
        "Targets: cached page >= 0.5x the floor, micro-cached >= 1.0x, solved"
        " uncached list >= 0.1x."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
