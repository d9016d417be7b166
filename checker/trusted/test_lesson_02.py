"""Trusted tests of lesson 2: prefetch_related, Prefetch(queryset=...), annotate.

They drive the shop apart (`checker.harness`): data is built inside the shop,
queries are counted from what PostgreSQL received, and expected rows are
computed here from the run's database.
"""

from __future__ import annotations

from typing import Any

import pytest

from checker.budgets import assert_within, queries_at_most, queries_constant
from checker.harness.shop import Page, Shop
from checker.trusted import expected, reading
from checker.trusted.staff import orders_make, staff_growth, staff_make

# The session, the staff user, revenue, statuses, bestsellers, categories and
# the recent orders: one query each.
DASHBOARD_QUERIES = 7


@pytest.mark.exercise("02-product-list", budget="queries")
def test_product_list_runs_a_constant_number_of_queries(
    shop: Shop, trusted_sql: Any
) -> None:
    growth = shop.grow(
        lambda n: shop.build("catalog_make", products=n),
        lambda: shop.get("/products/"),
        noun="products",
        label="GET /products/",
        rows="catalog_product WHERE is_active",
        verify=lambda page: _product_list_same(page, trusted_sql),
    )

    assert_within(growth, queries_constant("products"))


@pytest.mark.exercise("02-product-list", budget="same-output")
def test_product_list_shows_the_same_rows(shop: Shop, trusted_sql: Any) -> None:
    shop.build("catalog_make", products=9, inactive=2)
    shop.build("catalog_make", products=3, reviews_per_product=0, tags_per_product=0)

    _product_list_same(shop.get("/products/"), trusted_sql)


def _product_list_same(page: Page, connection: Any) -> None:
    reading.assert_same(
        "GET /products/",
        reading.product_list_rows(page.text),
        expected.product_list_rows_expected(connection),
    )


@pytest.mark.exercise("02-order-pages", budget="history-queries")
def test_order_history_runs_a_constant_number_of_queries(
    shop: Shop, trusted_sql: Any
) -> None:
    made: dict[str, Any] = {}

    def build(orders: int) -> None:
        made["staff"] = staff_make(shop)
        [made["customer"]] = shop.build("customers_make", count=1)
        shop.build("orders_make", orders=orders, customers=[made["customer"]])

    growth = shop.grow(
        build,
        lambda: shop.get(
            f"/customers/{made['customer']['pk']}/orders/", user=made["staff"]
        ),
        noun="orders",
        label="GET /customers/<id>/orders/",
        rows="orders_order",
        verify=lambda page: _history_same(page, trusted_sql, made["customer"]["pk"]),
    )

    assert_within(growth, queries_constant("orders"))


@pytest.mark.exercise("02-order-pages", budget="dashboard-queries")
def test_dashboard_runs_a_few_queries_whatever_the_orders(
    shop: Shop, trusted_sql: Any
) -> None:
    growth = staff_growth(
        shop,
        "/dashboard/sales/",
        "orders",
        lambda n: orders_make(shop, n),
        "orders_order",
        lambda page: _dashboard_same(page, trusted_sql),
    )

    assert_within(growth, queries_at_most(DASHBOARD_QUERIES, constant_in="orders"))


@pytest.mark.exercise("02-order-pages", budget="same-output")
def test_order_pages_show_the_same_rows(
    shop: Shop, staff: str, trusted_sql: Any
) -> None:
    [customer] = shop.build("customers_make", count=1)
    shop.build("orders_make", orders=6, customers=[customer])
    shop.build("orders_make", orders=23, customers=shop.build("customers_make", 3))

    history = shop.get(f"/customers/{customer['pk']}/orders/", user=staff)
    _history_same(history, trusted_sql, customer["pk"])
    _dashboard_same(shop.get("/dashboard/sales/", user=staff), trusted_sql)


def _history_same(page: Page, connection: Any, customer: int) -> None:
    reading.assert_same(
        "The order history",
        reading.history_orders(page.text),
        expected.history_orders_expected(connection, customer),
    )


def _dashboard_same(page: Page, connection: Any) -> None:
    reading.assert_same(
        "The dashboard's orders by status",
        reading.status_counts(page.text),
        expected.status_counts_expected(connection),
    )
    reading.assert_same(
        "The dashboard's recent orders",
        reading.recent_order_rows(page.text),
        expected.recent_order_rows_expected(connection),
    )


@pytest.mark.exercise("02-category-page", budget="queries")
def test_category_page_runs_a_constant_number_of_queries(
    shop: Shop, trusted_sql: Any
) -> None:
    made: dict[str, Any] = {}

    def build(products: int) -> None:
        made["category"] = shop.build("category_make", products=products)

    growth = shop.grow(
        build,
        lambda: shop.get(made["category"]["url"]),
        noun="products",
        label="GET /categories/<slug>/",
        rows="catalog_product WHERE is_active",
        verify=lambda page: _category_same(page, trusted_sql, made["category"]),
    )

    assert_within(growth, queries_constant("products"))


@pytest.mark.exercise("02-category-page", budget="same-output")
def test_category_page_shows_the_same_rows(shop: Shop, trusted_sql: Any) -> None:
    category = shop.build("category_make", products=8)

    _category_same(shop.get(category["url"]), trusted_sql, category)


def _category_same(page: Page, connection: Any, category: dict[str, Any]) -> None:
    reading.assert_same(
        f"GET {category['url']}",
        reading.category_rows(page.text),
        expected.category_rows_expected(connection, category["pk"]),
    )
