"""Trusted tests of lesson 1: N+1 queries on foreign keys and select_related."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.models import Product
from checker.budgets import assert_within, no_duplicate_queries, queries_constant
from checker.trusted import pages
from checker.trusted.measuring import grow, measured, no_query_per_row_via
from checker.trusted.shop_data import (
    catalog_make,
    customers_make,
    orders_make,
    staff_make,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Any) -> Any:
    client.force_login(staff_make())
    return client


@pytest.mark.exercise("01-product-pages", budget="list-queries")
def test_product_list_reads_categories_and_brands_without_a_query_per_product(
    client: Any,
) -> None:
    growth = grow(
        lambda n: catalog_make(products=n),
        lambda: client.get("/products/"),
        noun="products",
        label="GET /products/",
    )

    assert_within(growth, no_query_per_row_via("Product.category", "Product.brand"))


@pytest.mark.exercise("01-product-pages", budget="detail-queries")
def test_product_page_reads_review_authors_without_a_query_per_review(
    client: Any,
) -> None:
    made: dict[str, Product] = {}

    def build(reviews: int) -> None:
        [made["product"]] = catalog_make(
            products=1, reviews_per_product=2 * reviews, reviewers=2 * reviews
        )

    growth = grow(
        build,
        lambda: client.get(made["product"].get_absolute_url()),
        noun="reviews",
        label="GET /products/<slug>/",
    )

    assert_within(growth, queries_constant("reviews"))


@pytest.mark.exercise("01-product-pages", budget="no-duplicates")
def test_product_list_runs_no_query_twice(client: Any) -> None:
    catalog_make(products=9)

    with measured("GET /products/") as measurement:
        client.get("/products/")

    assert_within(measurement, no_duplicate_queries())


@pytest.mark.exercise("01-product-pages", budget="same-output")
def test_product_pages_show_the_same_rows(client: Any) -> None:
    products = catalog_make(products=9, inactive=2)

    listed = pages.product_list_rows(client.get("/products/").content.decode())
    detail = client.get(products[0].get_absolute_url()).content.decode()

    pages.assert_same("GET /products/", listed, pages.product_list_rows_expected())
    pages.assert_same(
        "The product page's reviews",
        pages.review_rows(detail),
        pages.review_rows_expected(products[0]),
    )


def _dashboard_growth(staff_client: Any) -> Any:
    def build(orders: int) -> None:
        orders_make(orders=orders, customers=customers_make(2))

    return grow(
        build,
        lambda: staff_client.get("/dashboard/sales/"),
        noun="orders",
        label="GET /dashboard/sales/",
    )


@pytest.mark.exercise("01-recent-orders", budget="queries")
def test_dashboard_names_customers_without_a_query_per_order(
    staff_client: Any,
) -> None:
    growth = _dashboard_growth(staff_client)

    assert_within(growth, no_query_per_row_via("Order.customer", "Customer.user"))


@pytest.mark.exercise("01-recent-orders", budget="no-duplicates")
def test_dashboard_runs_no_query_twice(staff_client: Any) -> None:
    orders_make(orders=8, customers=customers_make(2))

    with measured("GET /dashboard/sales/") as measurement:
        staff_client.get("/dashboard/sales/")

    assert_within(measurement, no_duplicate_queries())


@pytest.mark.exercise("01-recent-orders", budget="same-output")
def test_dashboard_shows_the_same_recent_orders(staff_client: Any) -> None:
    orders_make(orders=24, customers=customers_make(3))

    page = staff_client.get("/dashboard/sales/").content.decode()

    pages.assert_same(
        "The dashboard's recent orders",
        pages.recent_order_rows(page),
        pages.recent_order_rows_expected(),
    )


def _changelist_growth(client: Any, path: str, noun: str, build: Any) -> Any:
    return grow(build, lambda: client.get(path), noun=noun, label=f"GET {path}")


@pytest.mark.exercise("01-admin-lists", budget="products")
def test_product_changelist_runs_a_constant_number_of_queries(
    staff_client: Any,
) -> None:
    growth = _changelist_growth(
        staff_client,
        "/admin/catalog/product/",
        "products",
        lambda n: catalog_make(products=n, reviews_per_product=0),
    )

    assert_within(growth, queries_constant("products"))


@pytest.mark.exercise("01-admin-lists", budget="reviews")
def test_review_changelist_runs_a_constant_number_of_queries(
    staff_client: Any,
) -> None:
    growth = _changelist_growth(
        staff_client,
        "/admin/catalog/review/",
        "reviews",
        lambda n: catalog_make(products=n, reviews_per_product=1, reviewers=n),
    )

    assert_within(growth, queries_constant("reviews"))


@pytest.mark.exercise("01-admin-lists", budget="orders")
def test_order_changelist_runs_a_constant_number_of_queries(
    staff_client: Any,
) -> None:
    growth = _changelist_growth(
        staff_client,
        "/admin/orders/order/",
        "orders",
        lambda n: orders_make(orders=n, customers=customers_make(n)),
    )

    assert_within(growth, queries_constant("orders"))


@pytest.mark.exercise("01-admin-lists", budget="customers")
def test_customer_changelist_runs_a_constant_number_of_queries(
    staff_client: Any,
) -> None:
    growth = _changelist_growth(
        staff_client, "/admin/customers/customer/", "customers", customers_make
    )

    assert_within(growth, queries_constant("customers"))
