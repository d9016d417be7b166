"""Where an uncached request of the solved product list spends its CPU; print it.

    .venv/bin/python benchmarks/lesson9_list_render.py [--scale small] [--runs 25]
        [--per-page 100]

The shop with every lesson up to 9 solved is copied, migrated and seeded as
`lesson9_stack.py` does, and run with its settings without a cache (the
deploy settings, so DEBUG off and the cached template loader, with a
DummyCache). A child process in that shop's own Django measures the CPU time
(the least of --runs, taken in turns) of the floor view and the product list
through Django's test client, of the list's queries and rows alone, of its
template alone on rows already fetched, and of that template with each
per-row cell left out: the difference is what the cell costs on a page.
With --per-page, the scratch shop shows that many products a page instead of
its 100, to tell what a row costs from what every request pays.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from lesson9_stack import bench_shop
from scratch_shop import lesson_patches

from checker.services import ensure_up

PER_PAGE = 100  # catalog.views.PRODUCTS_PER_PAGE
# Each cell of a row in catalog/product_list.html, as the solved shop has it.
CELLS = {
    "the product's URL (get_absolute_url)": "{{ product.get_absolute_url }}",
    "the tags (product.tags.all)": (
        '{% for tag in product.tags.all %}<span class="tag">{{ tag.name }}</span>'
        " {% endfor %}"
    ),
    "the price (localized)": "{{ product.price }}",
    "the rating (floatformat)": "{{ product.rating_average|floatformat:1 }}",
    "the category's name": "{{ product.category.name }}",
}
MEASURE = """
import sys, time
import django
django.setup()
from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Paginator
from django.template import engines
from django.test import Client, RequestFactory
from catalog import selectors
from catalog.views import PRODUCTS_PER_PAGE

RUNS = int(sys.argv[1])
CELLS = dict(zip(sys.argv[2::2], sys.argv[3::2]))

def cpu_ms(*works):
    # Taken in turns, so a busy spell on the machine slows every one alike.
    spent = [[] for _ in works]
    for _ in range(RUNS + 1):
        for work, times in zip(works, spent):
            start = time.process_time()
            work()
            times.append(time.process_time() - start)
    return [min(times[1:]) * 1000 for times in spent]

def fetched():
    products = selectors.product_search(term="")
    page = Paginator(products, PRODUCTS_PER_PAGE).get_page(1)
    page.object_list = list(page.object_list)
    return page

client = Client()
request = RequestFactory().get("/products/", secure=True)
request.user = AnonymousUser()
engine = engines["django"]
source = engine.engine.get_template("catalog/product_list.html").source
context = {"page": fetched(), "categories": list(selectors.category_list()),
           "term": ""}
whole = engine.from_string(source)
floor_ms, list_ms, rows_ms, template_ms = cpu_ms(
    lambda: client.get("/floor/", secure=True),
    lambda: client.get("/products/", secure=True),
    fetched,
    lambda: whole.render(context, request),
)
rows = [
    ("floor view, whole request", floor_ms),
    ("product list, whole request", list_ms),
    ("its queries and rows alone", rows_ms),
    ("its template alone", template_ms),
]
for name, cell in CELLS.items():
    if cell not in source:
        sys.exit(f"catalog/product_list.html no longer holds {cell!r}")
    without = engine.from_string(source.replace(cell, ""))
    with_ms, without_ms = cpu_ms(
        lambda: whole.render(context, request),
        lambda: without.render(context, request),
    )
    rows.append((f"  of which {name}", with_ms - without_ms))
for name, ms in rows:
    print(f"{name}\\t{ms:.2f}")
"""


def _per_page(root: Path, count: int) -> None:
    views = root / "shop_app/catalog/views.py"
    line = f"PRODUCTS_PER_PAGE = {PER_PAGE}\n"
    text = views.read_text()
    if line not in text:
        sys.exit(f"{views.name} no longer holds {line.strip()!r}; update {__file__}")
    views.write_text(text.replace(line, f"PRODUCTS_PER_PAGE = {count}\n"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "large"))
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--per-page", type=int, default=PER_PAGE)
    args = parser.parse_args()
    ensure_up()
    solved, _ = lesson_patches("10")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "solved"
        env = bench_shop(root, solved, "bench9_render", args.scale)
        if args.per_page != PER_PAGE:
            _per_page(root, args.per_page)
        argv = [str(args.runs)]
        for name, cell in CELLS.items():
            argv += [name, cell]
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, *argv],
            cwd=root / "shop_app",
            env={
                **os.environ,
                **env,
                "PYTHONPATH": str(root / "shop_app"),
                "DJANGO_SETTINGS_MODULE": "config.settings.bench_uncached",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                "DJANGO_ALLOWED_HOSTS": "testserver",
            },
            capture_output=True,
            text=True,
        )
    if done.returncode:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "GET /products/ with no cache, the solved shop", "CPU ms",
        title=f"The least of {args.runs} runs, {args.scale} data,"
        f" {args.per_page} products a page",
    )  # fmt: skip
    for line in done.stdout.splitlines():
        name, ms = line.split("\t")
        table.add_row(name, ms)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
