"""Measure lesson 6's API before and after each exercise; print Markdown tables.

    .venv/bin/python benchmarks/api_pages.py --scale small
    .venv/bin/python benchmarks/api_pages.py --scale large

Three shops are copied to scratch folders: the start of lesson 6 (lessons 1-5
solved), after `06-pagination`, and after `06-lean-lists`. Each is measured
in a child process on one database seeded at the chosen scale
(`receipts_<scale>`, seeded on first use, then reused), through Django's test
client as the seeded `admin`:

- the first response of `GET /api/products/` and `GET /api/orders/`, and the
  orders' page at nine tenths of the table: queries (the checker's
  recorder), response bytes, items, and the median time of three requests
  (one when a request takes over two seconds);
- the three kinds of page on `orders_order` at growing depths, each read by
  PostgreSQL's `EXPLAIN (ANALYZE, BUFFERS)`: the rows produced under the
  page's LIMIT, the shared buffers touched, the execution time, and the
  `COUNT(*)` a numbered page adds;
- what DRF's serializers cost per item on the same products: a
  `ModelSerializer`, a plain `Serializer` and `values()`.

Times are this machine's; the counts, rows and bytes are the same wherever
the same seed is used. At `large` the start of the lesson would serialize
400,000 orders in one response: its full lists are measured at `small` only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lesson_receipts import _database, _scratch
from scratch_shop import lesson_patches

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHOPS = ("start of lesson 6", "06-pagination", "06-lean-lists")
DEPTHS = (0.0, 0.1, 0.5, 0.9)
PAGE = 50
SERIALIZED = 1_000
SLOW_SECONDS = 2.0
# The product fields each way of serializing turns into a dict.
FIELDS = ["id", "name", "slug", "sku", "price", "stock"]


def _timed(call: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def _request(client: Any, path: str, project: Any) -> dict[str, Any]:
    from checker.measure import measure

    with measure(path, project=project, memory=False) as measured:
        response, first = _timed(lambda: client.get(path))
    times = [first]
    if first < SLOW_SECONDS:
        times += [_timed(lambda: client.get(path))[1] for _ in range(2)]
    data = json.loads(response.content)
    items = data if isinstance(data, list) else data.get("results", [])
    return {
        "label": f"GET {path}",
        "status": response.status_code,
        "queries": measured.query_count,
        "bytes": len(response.content),
        "items": len(items),
        "ms": statistics.median(times) * 1000,
    }


def _deep_cursor(depth: int) -> str:
    """Return the cursor of the orders' page that starts `depth` rows down."""
    from orders.models import Order

    ids = Order.objects.order_by("-id").values_list("id", flat=True)
    above = ids[depth - 1]
    # DRF's CursorPagination sends the position of the last row it sent.
    token = base64.b64encode(f"p={above}".encode()).decode()
    return token.replace("=", "%3D")


def _requests(shop: str, project: Any, large: bool) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from orders.models import Order

    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    client.get("/api/products/?page_size=1")  # Import the API's modules.
    paged = shop != SHOPS[0]
    if not paged and large:
        return []
    rows = [
        _request(client, "/api/products/", project),
        _request(client, "/api/orders/", project),
    ]
    if paged:
        deep = int(Order.objects.count() * 0.9)
        path = f"/api/orders/?cursor={_deep_cursor(deep)}"
        rows.append({**_request(client, path, project), "label": "GET deep orders"})
    return rows


def _cost(top: dict[str, Any]) -> tuple[int, float]:
    """Return the shared buffers and milliseconds of an analyzed plan."""
    plan = top["Plan"]
    buffers = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    return int(buffers), float(top["Execution Time"])


def _explain(queryset: Any) -> tuple[int, int, float]:
    """Return rows produced under the LIMIT, shared buffers and milliseconds."""
    [top] = json.loads(queryset.explain(format="json", analyze=True, buffers=True))
    plan = top["Plan"]
    produced = plan.get("Actual Rows", 0)
    if plan["Node Type"] == "Limit":
        child = plan["Plans"][0]
        produced = child["Actual Rows"] * child.get("Actual Loops", 1)
    return (int(produced), *_cost(top))


def _pages() -> list[dict[str, Any]]:
    """Cost the three kinds of page on orders_order at growing depths."""
    from django.db import connection

    from orders.models import Order

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    total = Order.objects.count()
    ordered = Order.objects.order_by("-id")
    ids = list(ordered.values_list("id", flat=True))
    with connection.cursor() as cursor:
        # What the numbered page's paginator runs before every page.
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT COUNT(*) FROM orders_order"
        )
        [(found,)] = cursor.fetchall()
    [top] = found if isinstance(found, list) else json.loads(found)
    count = (total, *_cost(top))
    rows = []
    for fraction in DEPTHS:
        depth = int(total * fraction)
        offset = _explain(ordered[depth : depth + PAGE])
        seek = ordered.filter(id__lt=ids[depth - 1]) if depth else ordered
        cursor = _explain(seek[: PAGE + 1])
        rows.append(
            {
                "depth": depth,
                "offset": offset,
                "cursor": cursor,
                "count": count,
            }
        )
    deepest = int(total * DEPTHS[-1])
    plans = {
        "OFFSET": ordered[deepest : deepest + PAGE],
        "cursor": ordered.filter(id__lt=ids[deepest - 1])[: PAGE + 1],
    }
    texts = {
        name: f"{queryset.query}\n{queryset.explain(analyze=True, buffers=True)}"
        for name, queryset in plans.items()
    }
    return [*rows, {"plans": texts}]


def _serializers() -> list[dict[str, Any]]:
    """Time three ways of turning the same products into dicts, per item."""
    from rest_framework import serializers

    from catalog.models import Product

    class Model(serializers.ModelSerializer):
        class Meta:
            model = Product
            fields = FIELDS

    class Plain(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        slug = serializers.CharField()
        sku = serializers.CharField()
        price = serializers.DecimalField(max_digits=10, decimal_places=2)
        stock = serializers.IntegerField()

    products = list(Product.objects.only(*FIELDS).order_by("id")[:SERIALIZED])
    ways = {
        "ModelSerializer": lambda: Model(products, many=True).data,
        "Serializer": lambda: Plain(products, many=True).data,
        "values(), its query included": lambda: list(
            Product.objects.order_by("id").values(*FIELDS)[:SERIALIZED]
        ),
    }
    rows = []
    for name, call in ways.items():
        call()
        best = min(_timed(call)[1] for _ in range(5))
        rows.append({"way": name, "us_per_item": best * 1e6 / len(products)})
    load = min(
        _timed(lambda: list(Product.objects.only(*FIELDS).order_by("id")[:SERIALIZED]))[
            1
        ]
        for _ in range(5)
    )
    rows.append(
        {"way": "loading the models", "us_per_item": load * 1e6 / len(products)}
    )
    return [{**row, "items": len(products)} for row in rows]


def measure_shop(shop: str, folder: Path, large: bool) -> dict[str, Any]:
    """Measure one shop (run in a child process)."""
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    from checker.queries import ProjectCode

    setup_test_environment()
    project = ProjectCode(roots=("shop_app",), base=folder)
    result: dict[str, Any] = {"requests": _requests(shop, project, large)}
    if shop == SHOPS[-1]:
        result["pages"] = _pages()
        result["serializers"] = _serializers()
    return result


def _child(shop: str, folder: Path, database: str, large: bool) -> dict[str, Any]:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "PYTHONPATH": os.pathsep.join([str(folder / "shop_app"), str(ROOT)]),
        "CACHE_KEY_PREFIX": f"api_pages_{os.getpid()}",
        "COURSE_ROOT": str(folder),
        "COURSE_HOME": os.environ.get("COURSE_HOME", str(ROOT / ".course")),
    }
    command = [sys.executable, __file__, "--measure", shop, "--shop", str(folder)]
    if large:
        command.append("--large")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return dict(json.loads(done.stdout))


def _requests_table(measured: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| scenario | shop | queries | bytes | items | ms |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for shop in SHOPS:
        for row in measured[shop]["requests"]:
            lines.append(
                f"| `{row['label']}` | {shop} | {row['queries']} | {row['bytes']:,}"
                f" | {row['items']:,} | {row['ms']:,.0f} |"
            )
    return "\n".join(lines)


def _pages_table(pages: list[dict[str, Any]]) -> str:
    lines = [
        "| depth (rows skipped) | OFFSET page: rows produced, buffers, ms"
        " | its COUNT(*): buffers, ms | cursor page: rows produced, buffers, ms |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for row in pages:
        if "plans" in row:
            continue
        (o_rows, o_buf, o_ms), (c_rows, c_buf, c_ms) = row["offset"], row["cursor"]
        _, n_buf, n_ms = row["count"]
        lines.append(
            f"| {row['depth']:,} | {o_rows:,}, {o_buf:,}, {o_ms:.2f}"
            f" | {n_buf:,}, {n_ms:.2f} | {c_rows:,}, {c_buf:,}, {c_ms:.2f} |"
        )
    return "\n".join(lines)


def _serializers_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| way | µs per item |", "| --- | ---: |"]
    lines += [f"| {row['way']} | {row['us_per_item']:.1f} |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "large"])
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--shop", help=argparse.SUPPRESS)
    parser.add_argument("--large", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.measure:
        print(
            json.dumps(measure_shop(options.measure, Path(options.shop), options.large))
        )
        return
    earlier, own = lesson_patches("06")
    with tempfile.TemporaryDirectory(prefix="api-pages-") as scratch:
        folders = {
            shop: _scratch(Path(scratch) / str(number), earlier + own[:number])
            for number, shop in enumerate(SHOPS)
        }
        database = _database(
            f"receipts_{options.scale}", options.scale, list(folders.values())
        )
        large = options.scale == "large"
        measured = {
            shop: _child(shop, folder, database, large)
            for shop, folder in folders.items()
        }
    print(f"## Lesson 6 at the {options.scale} scale (times are this machine's)\n")
    print(_requests_table(measured))
    if large:
        print("\nThe start of lesson 6 is not measured here: see --scale small.")
    print("\n### A page of 50 orders at growing depths\n")
    pages = measured[SHOPS[-1]]["pages"]
    print(_pages_table(pages))
    for name, text in pages[-1]["plans"].items():
        print(f"\nThe deepest {name} page, `EXPLAIN (ANALYZE, BUFFERS)`:\n")
        print(f"```\n{text}\n```")
    serialized = measured[SHOPS[-1]]["serializers"]
    print(f"\n### Serializing {serialized[0]['items']:,} products, six fields each\n")
    print(_serializers_table(serialized))


if __name__ == "__main__":
    main()
