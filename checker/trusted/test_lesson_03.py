"""Trusted tests of lesson 3: defer(), values_list(), iterator(), exists(), count()."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from seeding.scales import scale_get

from catalog.selectors import category_product_count
from checker.budgets import (
    Verdict,
    assert_within,
    check_all,
    columns_not_fetched,
    memory_at_most,
)
from checker.harness.shop_data import (
    bulk_order_items,
    catalog_make,
    customers_make,
    orders_make,
    staff_make,
)
from checker.measure import Measurement
from checker.resources import format_bytes
from checker.trusted import pages
from checker.trusted.measuring import measured, recorders_warm
from orders.exports import EXPORT_HEADER
from orders.selectors import customer_has_orders

pytestmark = pytest.mark.django_db

# The response holds the whole CSV (a few MiB at the small scale); streamed
# rows add one chunk to that, loaded model instances add a copy per row.
EXPORT_MEMORY_MIB = 16
# Enough to answer with one number or one boolean, far too little for rows.
ANSWER_MEMORY_KIB = 160
ROWS = 1000


@pytest.fixture
def staff_client(client: Any) -> Any:
    client.force_login(staff_make())
    return client


@pytest.mark.exercise("03-product-list", budget="columns")
def test_product_list_leaves_the_description_in_the_database(client: Any) -> None:
    catalog_make(products=6)

    with measured("GET /products/") as measurement:
        client.get("/products/")

    assert_within(measurement, columns_not_fetched("catalog_product.description"))


@pytest.mark.exercise("03-product-list", budget="same-output")
def test_product_list_shows_the_same_rows(client: Any) -> None:
    catalog_make(products=9, inactive=2)

    listed = pages.product_list_rows(client.get("/products/").content.decode())

    pages.assert_same("GET /products/", listed, pages.product_list_rows_expected())


@pytest.mark.exercise("03-order-export", budget="memory")
def test_csv_export_of_the_small_shop_stays_within_its_memory_budget(
    staff_client: Any, record_property: Any
) -> None:
    path = "/exports/order-items.csv"
    # Warm up on no data: the first request of a process imports the URLconf
    # and every view module, and the first measurement imports the recorders.
    staff_client.get(path)
    recorders_warm()
    small = scale_get(name="small")
    bulk_order_items(orders=small.orders, items=small.order_items, products=300)

    with measured(f"GET {path}", memory=True) as measurement:
        response = staff_client.get(path)

    record_property("peak_bytes", measurement.peak_bytes)
    assert response.status_code == 200
    [verdict] = check_all(measurement, memory_at_most(mib=EXPORT_MEMORY_MIB))
    assert verdict.met, f"{verdict.message}{_loaded_by(measurement)}"


@pytest.mark.exercise("03-order-export", budget="same-output")
def test_csv_export_writes_the_same_lines(staff_client: Any) -> None:
    orders_make(orders=7, customers=customers_make(3))

    content = staff_client.get("/exports/order-items.csv").content

    pages.assert_same(
        "GET /exports/order-items.csv",
        pages.csv_rows(content),
        pages.csv_rows_expected(EXPORT_HEADER),
    )


def _loaded_by(measurement: Measurement) -> str:
    """Name the first query the shop's own code ran, and where it came from."""
    # Middleware queries (the session, the user) come first and explain nothing.
    found = [q for q in measurement.statements if q.origin is not None]
    if not found:
        return ""
    query = found[0]
    origin = f" — from {query.origin}" if query.origin else ""
    return f" The rows come from {query.short}{origin}."


def _answer_within(
    label: str, call: Callable[[], object], *, rows: str, fix: str
) -> Measurement:
    """Measure `call` and fail, like a code review, if it held rows in memory."""
    recorders_warm()
    call()  # The first call compiles and caches what later calls reuse.
    with measured(label, memory=True) as measurement:
        call()
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
        f"{measurement.label} peaked at {peak} of Python memory with {rows}"
        f" (budget: {verdict.budget}): it loads the rows to answer."
        f"{_loaded_by(measurement)} {fix}"
    )


@pytest.mark.exercise("03-exists-count", budget="has-orders")
def test_telling_whether_a_customer_has_orders_loads_none_of_them() -> None:
    customer = customers_make(1)[0]
    orders_make(orders=ROWS, items_per_order=1, customers=[customer])

    _answer_within(
        "customer_has_orders()",
        lambda: customer_has_orders(customer=customer),
        rows=f"{ROWS} orders",
        fix="Try .exists() on the queryset.",
    )


@pytest.mark.exercise("03-exists-count", budget="product-count")
def test_counting_a_categorys_products_loads_none_of_them() -> None:
    [first] = catalog_make(products=1, reviews_per_product=0)
    catalog_make(products=ROWS - 1, category=first.category, reviews_per_product=0)

    _answer_within(
        "category_product_count()",
        lambda: category_product_count(category=first.category),
        rows=f"{ROWS} products",
        fix="Try .count() on the queryset.",
    )


@pytest.mark.exercise("03-exists-count", budget="same-output")
def test_the_answers_stay_the_same() -> None:
    buyer, newcomer = customers_make(2)
    orders_make(orders=3, customers=[buyer])
    [first] = catalog_make(products=1, reviews_per_product=0)
    catalog_make(products=4, category=first.category, reviews_per_product=0, inactive=3)

    answers = [
        customer_has_orders(customer=buyer),
        customer_has_orders(customer=newcomer),
        category_product_count(category=first.category),
    ]

    expected = [True, False, 5]
    assert answers == expected, (
        f"customer_has_orders() and category_product_count() answered {answers};"
        f" the database says {expected}."
    )
