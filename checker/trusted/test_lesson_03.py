"""Trusted tests of lesson 3: defer(), values_list(), iterator(), exists(), count().

They drive the shop apart (`checker.harness`): data is built inside the shop,
queries are read from what PostgreSQL received, memory peaks from the kernel,
and expected rows are computed here from the run's database.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from psycopg import pq
from psycopg.sql import SQL, Identifier

from checker import sql
from checker.budgets import (
    assert_within,
    check_all,
    columns_not_fetched,
    memory_at_most,
)
from checker.harness.run import ShopRun
from checker.harness.shop import Shop
from checker.measure import Measurement
from checker.resources import format_bytes
from checker.trusted import expected, reading

EXPORT_PATH = "/exports/order-items.csv"
# The naive shop's `orders.exports.EXPORT_HEADER`: every export must keep it.
EXPORT_HEADER = (
    "order_id", "ordered_at", "status", "customer_id", "sku", "product",
    "quantity", "unit_price", "line_total",
)  # fmt: skip
# The shop's "small" seeding scale (`seeding.scales`): the size a learner's
# export must handle.
SMALL_ORDERS = 12_000
SMALL_ORDER_ITEMS = 40_000
SMALL_PRODUCTS = 300
# The peak the shop's process gains during the request, read from the
# kernel. A streamed export holds the 3 MiB CSV a few times over (the
# response, and the copies the command channel sends back): about 23 MiB.
# Model instances for every item, its order and its product add about
# 250 MiB; even in a process whose heap kept an earlier export's freed
# memory, loading them peaks above 45 MiB.
EXPORT_MEMORY_MIB = 40
# What the shop may hold before the export: a started shop holds about 90 MiB.
# Memory held then and freed during the request would hide the request's
# own peak, and hiding the naive export's would take over 230 MiB of it.
RESIDENT_MIB = 200
# One number or one boolean comes back in one row; loading rows to answer
# fetches one per order or product.
ANSWER_ROWS = 1
ROWS = 1000
# A cursor declared for a query streams that query's rows through FETCHes.
_DECLARE = re.compile(r"\s*DECLARE\s.*?\bCURSOR\b.*?\bFOR\s+(.*)", re.I | re.S)
_CURSOR_USE = ("FETCH", "CLOSE", "MOVE")


@pytest.mark.exercise("03-product-list", budget="columns")
def test_product_list_leaves_the_description_in_the_database(shop: Shop) -> None:
    shop.build("catalog_make", products=6)

    page = shop.get("/products/")

    assert_within(page.measurement, columns_not_fetched("catalog_product.description"))


@pytest.mark.exercise("03-product-list", budget="same-output")
def test_product_list_shows_the_same_rows(shop: Shop, trusted_sql: Any) -> None:
    shop.build("catalog_make", products=9, inactive=2)

    listed = reading.product_list_rows(shop.get("/products/").text)

    reading.assert_same(
        "GET /products/", listed, expected.product_list_rows_expected(trusted_sql)
    )


@pytest.mark.exercise("03-order-export", budget="memory")
def test_csv_export_of_the_small_shop_stays_within_its_memory_budget(
    shop: Shop, staff: str, record_property: Any
) -> None:
    # Warm up on no data: the first request of a process imports the URLconf
    # and every view module.
    shop.get(EXPORT_PATH, user=staff)
    shop.build(
        "bulk_order_items",
        orders=SMALL_ORDERS,
        items=SMALL_ORDER_ITEMS,
        products=SMALL_PRODUCTS,
    )

    page = shop.get(EXPORT_PATH, user=staff, memory=True)

    record_property("peak_bytes", page.measurement.peak_bytes)
    assert page.status == 200
    resident = page.measurement.resident_bytes or 0
    assert resident <= RESIDENT_MIB * 2**20, (
        f"GET {EXPORT_PATH}: the shop held {format_bytes(resident)} before the "
        f"request (budget: at most {RESIDENT_MIB} MiB); memory held and freed "
        "during a request hides its peak"
    )
    [verdict] = check_all(page.measurement, memory_at_most(mib=EXPORT_MEMORY_MIB))
    assert verdict.met, f"{verdict.message}{_loaded_by(page.measurement)}"


@pytest.mark.exercise("03-order-export", budget="same-output")
def test_csv_export_writes_the_same_lines(
    shop: Shop, staff: str, trusted_sql: Any
) -> None:
    shop.build("orders_make", orders=7, customers=shop.build("customers_make", 3))

    content = shop.get(EXPORT_PATH, user=staff).content

    reading.assert_same(
        f"GET {EXPORT_PATH}",
        reading.csv_rows(content),
        expected.csv_rows_expected(trusted_sql, EXPORT_HEADER),
    )


def _loaded_by(measurement: Measurement) -> str:
    """Name the first query the shop's own code ran, and where it came from."""
    # Middleware queries (the session, the user) come first and explain nothing.
    found = [q for q in measurement.statements if q.origin is not None]
    if not found:
        return ""
    query = found[0]
    return f" The rows come from {query.short} — from {query.origin}."


def _category_of(trusted_sql: Any, product: dict[str, Any]) -> dict[str, Any]:
    """Return a reference to the category of `product`, read from the database."""
    with trusted_sql.cursor() as cursor:
        cursor.execute(
            "SELECT category_id FROM catalog_product WHERE id = %s", [product["pk"]]
        )
        [(pk,)] = cursor.fetchall()
    return {"__ref__": "catalog.Category", "pk": pk}


def _rows_sent(trusted_sql: Any, role: str, measurement: Measurement) -> int | None:
    """Count the rows PostgreSQL sent back for the reads of `measurement`.

    Each read the server received is run again as the run's own role, in a
    read-only transaction that is rolled back, and only its rows are
    counted: the figure is the server's, whatever the shop's process does
    with its memory. The count is None when a statement is neither a read
    nor a cursor's FETCH or CLOSE, or could not be run again.
    """
    reads: list[tuple[str, list[bytes | None]]] = []
    for query in measurement.statements:
        declared = _DECLARE.match(query.sql)
        if declared is None and not sql.is_select(query.sql):
            if query.sql.lstrip().upper().startswith(_CURSOR_USE):
                continue
            return None
        text = declared.group(1) if declared else query.sql
        params = [
            None if value is None else str(value).encode() for value in query.params
        ]
        reads.append((text.strip().rstrip(";"), params))
    rows = 0
    with trusted_sql.transaction(force_rollback=True):
        trusted_sql.execute("SET TRANSACTION READ ONLY")
        trusted_sql.execute(SQL("SET LOCAL ROLE {}").format(Identifier(role)))
        trusted_sql.execute("SET LOCAL statement_timeout = '20s'")
        for text, params in reads:
            # The low-level call sends the text and its $n parameters as the
            # shop did, with no placeholder of psycopg's own read in it.
            counted = trusted_sql.pgconn.exec_params(
                f"SELECT count(*) FROM ({text}) AS sent".encode(), params
            )
            if counted.status != pq.ExecStatus.TUPLES_OK:
                return None
            rows += int(counted.get_value(0, 0))
    return rows


def _answer_within(
    shop: Shop,
    shop_run: ShopRun,
    trusted_sql: Any,
    function: str,
    *,
    rows: str,
    fix: str,
    **kwargs: Any,
) -> None:
    """Call a shop function and fail, like a code review, if it fetched rows."""
    label = f"{function.rpartition('.')[2]}()"
    _, measurement = shop.invoke(function, label=label, **kwargs)
    assert shop_run.database is not None
    sent = _rows_sent(trusted_sql, shop_run.database.role, measurement)
    budget = f"at most {ANSWER_ROWS} row"
    if sent is not None and sent <= ANSWER_ROWS:
        return
    loaded = _loaded_by(measurement)
    if sent is None:
        raise AssertionError(
            f"{label} ran statements that cannot be checked as reads with {rows}"
            f" (budget: {budget}).{loaded} {fix}"
        )
    raise AssertionError(
        f"{label} fetched {sent} rows from PostgreSQL with {rows}"
        f" (budget: {budget}): it loads the rows to answer.{loaded} {fix}"
    )


@pytest.mark.exercise("03-exists-count", budget="has-orders")
def test_telling_whether_a_customer_has_orders_loads_none_of_them(
    shop: Shop, shop_run: ShopRun, trusted_sql: Any
) -> None:
    [customer] = shop.build("customers_make", 1)
    shop.build("orders_make", orders=ROWS, items_per_order=1, customers=[customer])

    _answer_within(
        shop,
        shop_run,
        trusted_sql,
        "orders.selectors.customer_has_orders",
        rows=f"{ROWS} orders",
        fix="Try .exists() on the queryset.",
        customer=customer,
    )


@pytest.mark.exercise("03-exists-count", budget="product-count")
def test_counting_a_categorys_products_loads_none_of_them(
    shop: Shop, shop_run: ShopRun, trusted_sql: Any
) -> None:
    [first] = shop.build("catalog_make", products=1, reviews_per_product=0)
    category = _category_of(trusted_sql, first)
    shop.build(
        "catalog_make", products=ROWS - 1, category=category, reviews_per_product=0
    )

    _answer_within(
        shop,
        shop_run,
        trusted_sql,
        "catalog.selectors.category_product_count",
        rows=f"{ROWS} products",
        fix="Try .count() on the queryset.",
        category=category,
    )


@pytest.mark.exercise("03-exists-count", budget="same-output")
def test_the_answers_stay_the_same(shop: Shop, trusted_sql: Any) -> None:
    buyer, newcomer = shop.build("customers_make", 2)
    shop.build("orders_make", orders=3, customers=[buyer])
    [first] = shop.build("catalog_make", products=1, reviews_per_product=0)
    category = _category_of(trusted_sql, first)
    shop.build(
        "catalog_make",
        products=4,
        category=category,
        reviews_per_product=0,
        inactive=3,
    )

    answers = [
        shop.invoke("orders.selectors.customer_has_orders", customer=buyer)[0],
        shop.invoke("orders.selectors.customer_has_orders", customer=newcomer)[0],
        shop.invoke("catalog.selectors.category_product_count", category=category)[0],
    ]

    expected = [True, False, 5]
    assert answers == expected, (
        f"customer_has_orders() and category_product_count() answered {answers};"
        f" the database says {expected}."
    )
