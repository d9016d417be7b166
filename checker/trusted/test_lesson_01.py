"""Trusted tests of lesson 1: N+1 queries on foreign keys and select_related.

They drive the shop apart (`checker.harness`): data is built inside the shop,
queries are counted from what PostgreSQL received, and expected rows are
computed here from the run's database.
"""

from __future__ import annotations

from typing import Any

import pytest

from checker.budgets import assert_within, no_duplicate_queries, queries_constant
from checker.harness.shop import Page, Shop
from checker.trusted import expected, reading
from checker.trusted.measuring import no_query_per_row_via
from checker.trusted.staff import changelist_verify, orders_make, staff_growth


@pytest.mark.exercise("01-product-pages", budget="list-queries")
def test_product_list_reads_categories_and_brands_without_a_query_per_product(
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

    assert_within(growth, no_query_per_row_via("Product.category", "Product.brand"))


@pytest.mark.exercise("01-product-pages", budget="detail-queries")
def test_product_page_reads_review_authors_without_a_query_per_review(
    shop: Shop, trusted_sql: Any
) -> None:
    made: dict[str, Any] = {}

    def build(reviews: int) -> None:
        [made["product"]] = shop.build(
            "catalog_make",
            products=1,
            reviews_per_product=2 * reviews,
            reviewers=2 * reviews,
        )

    growth = shop.grow(
        build,
        lambda: shop.get(made["product"]["url"]),
        noun="reviews",
        label="GET /products/<slug>/",
        rows="catalog_review WHERE is_approved",
        verify=lambda page: _reviews_same(page, trusted_sql, made["product"]["pk"]),
    )

    assert_within(growth, queries_constant("reviews"))


@pytest.mark.exercise("01-product-pages", budget="no-duplicates")
def test_product_list_runs_no_query_twice(shop: Shop) -> None:
    shop.build("catalog_make", products=9)

    page = shop.get("/products/")

    assert_within(page.measurement, no_duplicate_queries())


@pytest.mark.exercise("01-product-pages", budget="same-output")
def test_product_pages_show_the_same_rows(shop: Shop, trusted_sql: Any) -> None:
    products = shop.build("catalog_make", products=9, inactive=2)

    _product_list_same(shop.get("/products/"), trusted_sql)
    _reviews_same(shop.get(products[0]["url"]), trusted_sql, products[0]["pk"])


def _product_list_same(page: Page, connection: Any) -> None:
    reading.assert_same(
        "GET /products/",
        reading.product_list_rows(page.text),
        expected.product_list_rows_expected(connection),
    )


def _reviews_same(page: Page, connection: Any, product: int) -> None:
    reading.assert_same(
        "The product page's reviews",
        reading.review_rows(page.text),
        expected.review_rows_expected(connection, product),
    )


@pytest.mark.exercise("01-recent-orders", budget="queries")
def test_dashboard_names_customers_without_a_query_per_order(
    shop: Shop, trusted_sql: Any
) -> None:
    growth = staff_growth(
        shop,
        "/dashboard/sales/",
        "orders",
        lambda n: orders_make(shop, n),
        "orders_order",
        lambda page: _recent_orders_same(page, trusted_sql),
    )

    assert_within(growth, no_query_per_row_via("Order.customer", "Customer.user"))


@pytest.mark.exercise("01-recent-orders", budget="no-duplicates")
def test_dashboard_runs_no_query_twice(shop: Shop, staff: str) -> None:
    orders_make(shop, 8)

    page = shop.get("/dashboard/sales/", user=staff)

    assert_within(page.measurement, no_duplicate_queries())


@pytest.mark.exercise("01-recent-orders", budget="same-output")
def test_dashboard_shows_the_same_recent_orders(
    shop: Shop, staff: str, trusted_sql: Any
) -> None:
    shop.build("orders_make", orders=24, customers=shop.build("customers_make", 3))

    _recent_orders_same(shop.get("/dashboard/sales/", user=staff), trusted_sql)


def _recent_orders_same(page: Page, connection: Any) -> None:
    reading.assert_same(
        "The dashboard's recent orders",
        reading.recent_order_rows(page.text),
        expected.recent_order_rows_expected(connection),
    )


@pytest.mark.exercise("01-admin-lists", budget="products")
def test_product_changelist_runs_a_constant_number_of_queries(
    shop: Shop, trusted_sql: Any
) -> None:
    growth = staff_growth(
        shop,
        "/admin/catalog/product/",
        "products",
        lambda n: shop.build("catalog_make", products=n, reviews_per_product=0),
        "catalog_product",
        changelist_verify(trusted_sql, "/admin/catalog/product/", "catalog_product"),
    )

    assert_within(growth, queries_constant("products"))


@pytest.mark.exercise("01-admin-lists", budget="reviews")
def test_review_changelist_runs_a_constant_number_of_queries(
    shop: Shop, trusted_sql: Any
) -> None:
    growth = staff_growth(
        shop,
        "/admin/catalog/review/",
        "reviews",
        lambda n: shop.build(
            "catalog_make", products=n, reviews_per_product=1, reviewers=n
        ),
        "catalog_review",
        changelist_verify(trusted_sql, "/admin/catalog/review/", "catalog_review"),
    )

    assert_within(growth, queries_constant("reviews"))


@pytest.mark.exercise("01-admin-lists", budget="orders")
def test_order_changelist_runs_a_constant_number_of_queries(
    shop: Shop, trusted_sql: Any
) -> None:
    growth = staff_growth(
        shop,
        "/admin/orders/order/",
        "orders",
        lambda n: shop.build(
            "orders_make", orders=n, customers=shop.build("customers_make", n)
        ),
        "orders_order",
        changelist_verify(trusted_sql, "/admin/orders/order/", "orders_order"),
    )

    assert_within(growth, queries_constant("orders"))


@pytest.mark.exercise("01-admin-lists", budget="customers")
def test_customer_changelist_runs_a_constant_number_of_queries(
    shop: Shop, trusted_sql: Any
) -> None:
    growth = staff_growth(
        shop,
        "/admin/customers/customer/",
        "customers",
        lambda n: shop.build("customers_make", n),
        "customers_customer",
        changelist_verify(
            trusted_sql, "/admin/customers/customer/", "customers_customer"
        ),
    )

    assert_within(growth, queries_constant("customers"))
