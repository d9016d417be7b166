"""Trusted tests of lesson 2: prefetch_related, Prefetch(queryset=...), annotate."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.models import Category
from checker.budgets import assert_within, queries_at_most, queries_constant
from checker.harness.shop_data import (
    catalog_make,
    customers_make,
    orders_make,
    staff_make,
)
from checker.trusted import pages
from checker.trusted.measuring import grow
from customers.models import Customer

pytestmark = pytest.mark.django_db

# The session, the staff user, revenue, statuses, bestsellers, categories and
# the recent orders: one query each.
DASHBOARD_QUERIES = 7


@pytest.fixture
def staff_client(client: Any) -> Any:
    client.force_login(staff_make())
    return client


@pytest.mark.exercise("02-product-list", budget="queries")
def test_product_list_runs_a_constant_number_of_queries(client: Any) -> None:
    growth = grow(
        lambda n: catalog_make(products=n),
        lambda: client.get("/products/"),
        noun="products",
        label="GET /products/",
    )

    assert_within(growth, queries_constant("products"))


@pytest.mark.exercise("02-product-list", budget="same-output")
def test_product_list_shows_the_same_rows(client: Any) -> None:
    catalog_make(products=9, inactive=2)
    catalog_make(products=3, reviews_per_product=0, tags_per_product=0)

    listed = pages.product_list_rows(client.get("/products/").content.decode())

    pages.assert_same("GET /products/", listed, pages.product_list_rows_expected())


@pytest.mark.exercise("02-order-pages", budget="history-queries")
def test_order_history_runs_a_constant_number_of_queries(staff_client: Any) -> None:
    made: dict[str, Customer] = {}

    def build(orders: int) -> None:
        made["customer"] = customers_make(1)[0]
        orders_make(orders=orders, customers=[made["customer"]])

    growth = grow(
        build,
        lambda: staff_client.get(f"/customers/{made['customer'].pk}/orders/"),
        noun="orders",
        label="GET /customers/<id>/orders/",
    )

    assert_within(growth, queries_constant("orders"))


@pytest.mark.exercise("02-order-pages", budget="dashboard-queries")
def test_dashboard_runs_a_few_queries_whatever_the_orders(staff_client: Any) -> None:
    growth = grow(
        lambda n: orders_make(orders=n, customers=customers_make(2)),
        lambda: staff_client.get("/dashboard/sales/"),
        noun="orders",
        label="GET /dashboard/sales/",
    )

    assert_within(growth, queries_at_most(DASHBOARD_QUERIES, constant_in="orders"))


@pytest.mark.exercise("02-order-pages", budget="same-output")
def test_order_pages_show_the_same_rows(staff_client: Any) -> None:
    customer = customers_make(1)[0]
    orders_make(orders=6, customers=[customer])
    orders_make(orders=23, customers=customers_make(3))

    history = staff_client.get(f"/customers/{customer.pk}/orders/").content.decode()
    dashboard = staff_client.get("/dashboard/sales/").content.decode()

    pages.assert_same(
        "The order history",
        pages.history_orders(history),
        pages.history_orders_expected(customer),
    )
    pages.assert_same(
        "The dashboard's orders by status",
        pages.status_counts(dashboard),
        pages.status_counts_expected(),
    )
    pages.assert_same(
        "The dashboard's recent orders",
        pages.recent_order_rows(dashboard),
        pages.recent_order_rows_expected(),
    )


def _category_with(products: int) -> Category:
    [product] = catalog_make(products=1, reviews_per_product=0)
    catalog_make(products=products - 1, category=product.category, inactive=1)
    return product.category


@pytest.mark.exercise("02-category-page", budget="queries")
def test_category_page_runs_a_constant_number_of_queries(client: Any) -> None:
    made: dict[str, Category] = {}

    def build(products: int) -> None:
        made["category"] = _category_with(products)

    growth = grow(
        build,
        lambda: client.get(made["category"].get_absolute_url()),
        noun="products",
        label="GET /categories/<slug>/",
    )

    assert_within(growth, queries_constant("products"))


@pytest.mark.exercise("02-category-page", budget="same-output")
def test_category_page_shows_the_same_rows(client: Any) -> None:
    category = _category_with(8)

    page = client.get(category.get_absolute_url()).content.decode()

    pages.assert_same(
        f"GET {category.get_absolute_url()}",
        pages.category_rows(page),
        pages.category_rows_expected(category),
    )
