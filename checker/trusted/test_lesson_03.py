"""Trusted tests of lesson 3: defer(), values_list(), iterator(), exists(), count().

They drive the shop apart (`checker.harness`): data is built inside the shop,
queries are read from what PostgreSQL received, memory peaks from the kernel,
and expected rows are computed here from the run's database.
"""

from __future__ import annotations

from typing import Any

import pytest

from checker.budgets import (
    Verdict,
    assert_within,
    check_all,
    columns_not_fetched,
    memory_at_most,
)
from checker.harness.evidence import EvidenceMeasurement
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
# The peak the shop's process gains while it answers, read from the kernel.
# It holds the whole CSV several times over (the response, and the copies
# the command channel sends back); loaded model instances add a copy of
# every item, its order and its product per row.
EXPORT_MEMORY_MIB = 16
# Enough to answer with one number or one boolean, far too little for rows.
ANSWER_MEMORY_KIB = 160
ROWS = 1000


@pytest.fixture
def staff(shop: Shop) -> str:
    """Return the username of a superuser for the staff pages."""
    return str(shop.call("staff_make")["username"])


@pytest.mark.exercise("03-product-list", budget="columns")
def test_product_list_leaves_the_description_in_the_database(shop: Shop) -> None:
    shop.call("catalog_make", products=6)

    page = shop.get("/products/")

    assert_within(page.measurement, columns_not_fetched("catalog_product.description"))


@pytest.mark.exercise("03-product-list", budget="same-output")
def test_product_list_shows_the_same_rows(shop: Shop, trusted_sql: Any) -> None:
    shop.call("catalog_make", products=9, inactive=2)

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
    shop.call(
        "bulk_order_items",
        orders=SMALL_ORDERS,
        items=SMALL_ORDER_ITEMS,
        products=SMALL_PRODUCTS,
    )

    page = shop.get(EXPORT_PATH, user=staff, memory=True)

    record_property("peak_bytes", page.measurement.peak_bytes)
    assert page.status == 200
    [verdict] = check_all(page.measurement, memory_at_most(mib=EXPORT_MEMORY_MIB))
    assert verdict.met, f"{verdict.message}{_loaded_by(page.measurement)}"


@pytest.mark.exercise("03-order-export", budget="same-output")
def test_csv_export_writes_the_same_lines(
    shop: Shop, staff: str, trusted_sql: Any
) -> None:
    shop.call("orders_make", orders=7, customers=shop.call("customers_make", 3))

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


def _invoked(
    shop: Shop, function: str, *, label: str, **kwargs: Any
) -> tuple[Any, EvidenceMeasurement]:
    """Call a shop function, with the memory its process gained read around it."""
    # Shop.invoke() reads no memory peak: the gauge is read around the call
    # as Shop.request(memory=True) reads it around a request.
    gauge = shop.memory
    if gauge is not None:
        gauge.reset_peak()
    result, measurement = shop.invoke(function, label=label, **kwargs)
    peak = gauge.peak_memory_bytes() if gauge is not None else None
    return result, EvidenceMeasurement(
        label, measurement.queries, reported=measurement.reported, peak_bytes=peak
    )


def _answer_within(
    shop: Shop,
    function: str,
    *,
    warm: dict[str, Any],
    measured: dict[str, Any],
    rows: str,
    fix: str,
) -> EvidenceMeasurement:
    """Measure a shop function and fail, like a code review, if it held rows."""
    label = f"{function.rpartition('.')[2]}()"
    # The first call compiles and caches what later calls reuse; it is made
    # where there is no row, so that no freed row is there to be reused.
    shop.invoke(function, label=label, **warm)
    _, measurement = _invoked(shop, function, label=label, **measured)
    [verdict] = check_all(measurement, memory_at_most(kib=ANSWER_MEMORY_KIB))
    if not verdict.met:
        raise AssertionError(_loaded_rows_message(verdict, measurement, rows, fix))
    return measurement


def _loaded_rows_message(
    verdict: Verdict, measurement: Measurement, rows: str, fix: str
) -> str:
    # The memory budget's own advice is to stream rows; here no row is
    # needed at all, so the message names the query and the right fix.
    peak = format_bytes(measurement.peak_bytes or 0)
    return (
        f"{measurement.label} peaked at {peak} of memory with {rows}"
        f" (budget: {verdict.budget}): it loads the rows to answer."
        f"{_loaded_by(measurement)} {fix}"
    )


@pytest.mark.exercise("03-exists-count", budget="has-orders")
def test_telling_whether_a_customer_has_orders_loads_none_of_them(
    shop: Shop,
) -> None:
    buyer, newcomer = shop.call("customers_make", 2)
    shop.call("orders_make", orders=ROWS, items_per_order=1, customers=[buyer])

    _answer_within(
        shop,
        "orders.selectors.customer_has_orders",
        warm={"customer": newcomer},
        measured={"customer": buyer},
        rows=f"{ROWS} orders",
        fix="Try .exists() on the queryset.",
    )


@pytest.mark.exercise("03-exists-count", budget="product-count")
def test_counting_a_categorys_products_loads_none_of_them(
    shop: Shop, trusted_sql: Any
) -> None:
    [first, other] = shop.call("catalog_make", products=2, reviews_per_product=0)
    category = _category_of(trusted_sql, first)
    shop.call(
        "catalog_make",
        products=ROWS - 1,
        category=category,
        reviews_per_product=0,
    )

    _answer_within(
        shop,
        "catalog.selectors.category_product_count",
        warm={"category": _category_of(trusted_sql, other)},
        measured={"category": category},
        rows=f"{ROWS} products",
        fix="Try .count() on the queryset.",
    )


@pytest.mark.exercise("03-exists-count", budget="same-output")
def test_the_answers_stay_the_same(shop: Shop, trusted_sql: Any) -> None:
    buyer, newcomer = shop.call("customers_make", 2)
    shop.call("orders_make", orders=3, customers=[buyer])
    [first] = shop.call("catalog_make", products=1, reviews_per_product=0)
    category = _category_of(trusted_sql, first)
    shop.call(
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
