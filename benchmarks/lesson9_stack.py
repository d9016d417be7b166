"""Load the shop deployed under Gunicorn behind Nginx, naive and solved; print ratios.

    .venv/bin/python benchmarks/lesson9_stack.py [--scale small] [--seconds 5]

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
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from scratch_shop import lesson_patches, shop_copy, shop_migrate

from checker.course.deploy import load_table
from checker.services import ensure_up
from checker.services.loadtest import LoadFigures, wrk_run
from checker.services.stack import NGINX_CONFIG, Stack, free_ports

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


def _shop(root: Path, patches: list[str], database: str, scale: str) -> dict[str, str]:
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
    root: Path, env: dict[str, str], paths: dict[str, str], args: argparse.Namespace
) -> dict[str, LoadFigures]:
    """Deploy the shop at `root`; load each of `paths` through Nginx."""
    ports = free_ports(3)
    figures: dict[str, LoadFigures] = {}
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
                figures[name] = wrk_run(
                    url,
                    requests=args.requests,
                    seconds=args.seconds,
                    connections=args.connections,
                )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "large"))
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    ensure_up()
    _, own = lesson_patches("09")
    solved, _ = lesson_patches("10")
    results: list[tuple[str, LoadFigures]] = []
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        print("Naive shop (lesson 9's deployment only):", file=sys.stderr)
        naive_env = _shop(base / "naive", own, "bench9_naive", args.scale)
        slug = _product_slug(base / "naive", naive_env)
        pages = {"product list": "/products/", "product page": f"/products/{slug}/"}
        naive = _load(base / "naive", naive_env, {"floor": "/floor/", **pages}, args)
        print("Solved shop:", file=sys.stderr)
        solved_env = _shop(base / "solved", solved, "bench9_solved", args.scale)
        cached = _load(base / "solved", solved_env, {"floor": "/floor/", **pages}, args)
        uncached_env = {
            **solved_env,
            "DJANGO_SETTINGS_MODULE": "config.settings.bench_uncached",
        }
        uncached = _load(base / "solved", uncached_env, pages, args)
        _micro_cached(base / "solved")
        micro = _load(
            base / "solved",
            solved_env,
            {"floor": "/floor/", "product page": pages["product page"]},
            args,
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
    results.extend(rows)
    from rich.console import Console

    console = Console()
    console.print(
        load_table(
            results,
            title=f"GET over HTTPS through Nginx, {args.connections} connections,"
            f" {args.scale} data",
        )
    )
    floor = cached["floor"].per_second or 1.0

    def ratio(name: str, value: LoadFigures, of: LoadFigures) -> None:
        if not of.requests:
            console.print(f"{name}: n/a, no naive request finished in {args.seconds} s")
            return
        console.print(f"{name}: {value.per_second / of.per_second:.2f}x")

    for page in pages:
        ratio(f"{page}, naive -> solved (cached)", cached[page], naive[page])
        ratio(f"{page}, naive -> solved (no cache)", uncached[page], naive[page])
    for name, value in rows:
        if not name.startswith("floor"):
            console.print(f"{name} / solved floor: {value.per_second / floor:.2f}x")
    console.print(
        "Targets: cached page >= 0.5x the floor, micro-cached >= 1.0x, solved"
        " uncached list >= 0.1x."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
