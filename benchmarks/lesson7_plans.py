"""Grade lesson 7 before and after its patches; print its plans and buffers.

    .venv/bin/python benchmarks/lesson7_plans.py [--seed N]

The shop at the start of lesson 7 (every earlier lesson's patches applied)
and the shop with lesson 7's patches too are copied to scratch folders and
graded with the trusted tests (`checker/trusted/test_lesson_07.py`), on the
same seed: the same plan-sized data, which the trusted side builds in each
run. The figures are the tests' own: the plan node that read the table, the
shared buffers PostgreSQL counted, and the seconds the data took to build.

Then the solved shop is migrated into a scratch database (`lesson7_writes`)
filled the same way, and the write cost of each index lesson 7 adds is
measured: its size on disk beside its table's, and the rows per second of
a bulk insert into its table with and without it (the best of three,
each rolled back; times are this machine's own), and the bytes of WAL each
inserted row wrote.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

# The command's own folder is on sys.path: it runs as a script.
from scratch_shop import REPO, lesson_grade, lesson_patches, shop_copy, shop_migrate

from checker.services import database_url, drop_database, ensure_up
from checker.trusted.plan_data import ORDERS, PRODUCTS, catalog_fill, orders_fill

LESSON = "07"
WRITES_DATABASE = "lesson7_writes"
# 20,000 products, inserted to time the catalog's indexes.
_NEW_PRODUCTS = (
    "INSERT INTO catalog_product (name, slug, sku, price, stock, is_active,"
    " description, created_at, updated_at, brand_id, category_id)"
    " SELECT 'New ' || g, 'new-' || g, 'NEW-' || g, 1 + g % 997, 1, true, '',"
    " now(), now(), (SELECT min(id) FROM catalog_brand),"
    " (SELECT min(id) FROM catalog_category) FROM generate_series(1, 20000) g"
)
# 20,000 orders, inserted to time the orders' indexes.
_NEW_ORDERS = (
    "INSERT INTO orders_order (customer_id, status, created_at, total)"
    " SELECT (SELECT min(id) FROM customers_customer), 'paid', now(), 1"
    " FROM generate_series(1, 20000) g"
)
# Each index lesson 7 adds, its table, and one insert of 20,000 rows into it.
INDEXES = {
    "product_active_price_idx": (
        "catalog_product",
        _NEW_PRODUCTS,
    ),
    # The search's trigram index: each name goes in as its three-letter pieces.
    "product_name_trgm_idx": (
        "catalog_product",
        _NEW_PRODUCTS,
    ),
    "review_approved_newest_idx": (
        "catalog_review",
        "INSERT INTO catalog_review (rating, title, body, is_approved, created_at,"
        " customer_id, product_id)"
        " SELECT 1 + g % 5, 'New', '', true, now(),"
        " (SELECT min(id) FROM customers_customer),"
        " (SELECT min(id) FROM catalog_product) + g % 3000"
        " FROM generate_series(1, 20000) g",
    ),
    "order_newest_idx": ("orders_order", _NEW_ORDERS),
    # It replaces the foreign key's own index on customer_id, which the
    # solved shop no longer has.
    "order_customer_newest_idx": ("orders_order", _NEW_ORDERS),
}


def _cell(budget: Any) -> str:
    found = budget.properties
    if "buffers" in found:
        noun = "products" if "products" in found else "orders"
        return ", ".join(
            f"{b:,} buffers with {n:,} {noun}"
            for b, n in zip(found["buffers"], found[noun], strict=True)
        )
    if "plan" in found:
        return str(found["plan"])
    if "built" in found:
        return str(found["built"]).partition(": ")[2]
    if budget.passed:
        return "met"
    ran = re.search(r" ran (.*?)(?: to return| \(budget)", budget.message)
    if ran:
        return ran.group(1)
    if "through no index of its own" in budget.message:
        return "no index of its own"
    return budget.message.split(" (budget")[0][:160]


def _insert_cost(
    connection: Any, statement: str, drop: str | None
) -> tuple[float, float]:
    """Return the rows per second of `statement` and the WAL bytes per row.

    The insert is rolled back afterwards; its WAL was written all the same,
    and is counted from the server's insert position before and after.
    """
    with connection.transaction(force_rollback=True):
        if drop:
            connection.execute(f"DROP INDEX {drop}")
        [(before,)] = connection.execute("SELECT pg_current_wal_insert_lsn()")
        started = time.perf_counter()
        connection.execute(statement)
        seconds = time.perf_counter() - started
        [(wal,)] = connection.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [before]
        )
        return 20_000 / seconds, float(wal) / 20_000


def write_costs(root: Path) -> list[str]:
    """Measure what each lesson 7 index costs on disk and on inserts."""
    try:
        shop_migrate(root, WRITES_DATABASE)
        with psycopg.connect(database_url(WRITES_DATABASE, libpq=True)) as connection:
            connection.autocommit = True
            catalog_fill(connection, products=PRODUCTS, seed=7)
            orders_fill(connection, orders=ORDERS)
            lines = [
                "| index | its size | its table | rows/s with it | rows/s without "
                "| WAL bytes per row with it | without |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            # Every size before any insert: a rolled-back insert leaves its
            # rows' space behind, in the table and in each of its indexes.
            sizes = {
                index: connection.execute(
                    "SELECT pg_size_pretty(pg_relation_size(%s::regclass)),"
                    " pg_size_pretty(pg_relation_size(%s::regclass))",
                    [index, table],
                ).fetchall()[0]
                for index, (table, _) in INDEXES.items()
            }
            for index, (_, insert) in INDEXES.items():
                size, whole = sizes[index]
                # The best of three, each way: a busy machine only slows a
                # run. The WAL a row writes does not depend on the load.
                costs = [
                    [_insert_cost(connection, insert, drop) for _ in range(3)]
                    for drop in (None, index)
                ]
                with_it, without = (f"{max(c[0] for c in runs):,.0f}" for runs in costs)
                wal = " | ".join(f"{min(c[1] for c in runs):,.0f}" for runs in costs)
                lines.append(
                    f"| `{index}` | {size} | {whole} | {with_it} | {without} | {wal} |"
                )
        return lines
    finally:
        drop_database(WRITES_DATABASE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for message in ensure_up():
        print(message, file=sys.stderr)
    earlier, own = lesson_patches(LESSON)
    missing = [patch for patch in earlier if not (REPO / patch).is_file()]
    if missing:
        print(f"Not written yet, left out: {', '.join(missing)}", file=sys.stderr)
        earlier = [patch for patch in earlier if patch not in missing]
    with tempfile.TemporaryDirectory(prefix="lesson7-") as scratch:
        before = lesson_grade(
            shop_copy(Path(scratch) / "before", earlier), LESSON, args.seed
        )
        solved = shop_copy(Path(scratch) / "after", earlier + own)
        after = lesson_grade(solved, LESSON, args.seed)
        writes = write_costs(solved)
    print("| exercise | budget | before | after |")
    print("| --- | --- | --- | --- |")
    seconds: list[float] = []
    keys: set[str] = set()
    for old, new in zip(before, after, strict=True):
        for a, b in zip(old.budgets, new.budgets, strict=True):
            print(f"| `{old.id}` | `{a.budget}` | {_cell(a)} | {_cell(b)} |")
            if "plan_data_seconds" in b.properties:
                seconds.append(float(b.properties["plan_data_seconds"]))
            keys.update(filter(None, b.properties.get("plan_data_keys", ())))
    print(
        f"\nPlan-sized data built per run: {sum(seconds):.1f} s "
        f"({', '.join(f'{s:.1f}' for s in seconds)} s per exercise), on this machine;"
        f" foreign keys {', '.join(sorted(keys))} (benchmarks/lesson7_fill.py"
        " compares the ways to build it)."
    )
    print(
        f"\nWrite cost of lesson 7's indexes, on {PRODUCTS:,} products and "
        f"{ORDERS:,} orders (20,000 rows inserted, times this machine's own):\n"
    )
    print("\n".join(writes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
