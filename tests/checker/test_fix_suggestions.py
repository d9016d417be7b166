"""Each lesson's suggested fix, typed into the naive shop, removes its N+1.

The shop's pages are measured in this process; every N+1 a lesson diagnoses is
then fixed by applying the very call its diagnosis suggests to the queryset
where the shop builds it (the model's manager, or the ModelAdmin option), and
measured again.
"""

from __future__ import annotations

import ast
import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Prefetch, Q
from django.db.models.manager import BaseManager
from seeding.fixtures import tiny_shop

from catalog.models import Category, Product, Review
from checker.measure import measure
from customers.models import Customer
from orders.models import Order, OrderItem

__all__ = ["tiny_shop"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_shop")]

MODELS = {
    model.__name__: model
    for model in (Category, Product, Review, Customer, Order, OrderItem)
}


def _admin(lookup: str) -> str:
    return f'Try list_select_related = ["{lookup}"] on the ModelAdmin.'


def _detail() -> str:
    product = Product.objects.annotate(n=Count("reviews")).order_by("-n", "id")[0]
    return f"/products/{product.slug}/"


def _category() -> str:
    category = Category.objects.annotate(n=Count("products")).order_by("-n", "id")[0]
    return f"/categories/{category.slug}/"


def _customer() -> Customer:
    return Customer.objects.annotate(n=Count("orders")).order_by("-n", "id")[0]


ITEMS = 'Prefetch("items", queryset=OrderItem.objects.select_related("product"))'

# page, who asks, the model whose queryset the page builds (or its ModelAdmin),
# and each relation the diagnosis names with the fix it suggests. Suggestions
# that need the template changed too (an annotate() it must read, a Prefetch
# with to_attr) are left out: the call alone cannot remove those.
CASES = {
    "01-product-pages list": (
        "/products/",
        "anonymous",
        Product,
        {
            "Product.category": 'Try select_related("category").',
            "Product.brand": 'Try select_related("brand").',
            "Product.tags": 'Try prefetch_related("tags").',
        },
    ),
    "01-product-pages detail": (
        _detail,
        "anonymous",
        Review,
        {
            "Review.customer": 'Try select_related("customer").',
            "Customer.user": 'Try select_related("customer__user").',
        },
    ),
    "01-recent-orders": (
        "/dashboard/sales/",
        "staff",
        Order,
        {
            "Order.customer": 'Try select_related("customer").',
            "Customer.user": 'Try select_related("customer__user").',
        },
    ),
    "01-admin-lists products": (
        "/admin/catalog/product/",
        "staff",
        Product,
        {
            "Product.category": _admin("category"),
            "Product.brand": _admin("brand"),
        },
    ),
    "01-admin-lists reviews": (
        "/admin/catalog/review/",
        "staff",
        Review,
        {
            "Review.product": _admin("product"),
            "Review.customer": _admin("customer"),
            "Customer.user": _admin("customer__user"),
        },
    ),
    "01-admin-lists orders": (
        "/admin/orders/order/",
        "staff",
        Order,
        {
            "Order.customer": _admin("customer"),
            "Customer.user": _admin("customer__user"),
        },
    ),
    "01-admin-lists customers": (
        "/admin/customers/customer/",
        "staff",
        Customer,
        {"Customer.user": _admin("user")},
    ),
    "02-order-pages history": (
        "/account/orders/",
        "customer",
        Order,
        {
            "Order.items": 'Try prefetch_related("items").',
            "OrderItem.product": f"Try prefetch_related({ITEMS}).",
        },
    ),
}


def _client(client, who):
    if who == "staff":
        client.force_login(get_user_model().objects.get(username="admin"))
    elif who == "customer":
        client.force_login(_customer().user)
    return client


def _measure(client, url):
    with measure(f"GET {url}", memory=False) as measurement:
        response = client.get(url)
    assert response.status_code == 200, url
    return measurement


def _relations(measurement):
    return {str(g.access): g for g in measurement.similar() if g.access is not None}


def _apply(monkeypatch, builder, fix):
    """Put the suggested call where the shop builds the queryset."""
    listed = re.fullmatch(
        r"Try list_select_related = (\[.*\]) on the ModelAdmin\.", fix
    )
    if listed:
        model_admin = admin.site._registry[builder]
        names = ast.literal_eval(listed[1])
        monkeypatch.setattr(model_admin, "list_select_related", names)
        return
    found = re.fullmatch(r"Try (\w+\(.*\))(?: on the queryset[^.]*)?\.", fix)
    assert found, fix
    call = found[1]
    original = BaseManager.get_queryset
    names = {**MODELS, "Prefetch": Prefetch, "Count": Count, "Avg": Avg, "Q": Q}

    def get_queryset(manager):
        queryset = original(manager)
        if manager.model is not builder:
            return queryset
        return eval(f"queryset.{call}", {**names, "queryset": queryset})

    monkeypatch.setattr(BaseManager, "get_queryset", get_queryset)


@pytest.mark.parametrize("case", list(CASES))
def test_the_suggested_call_removes_the_n_plus_one(case, client, monkeypatch):
    url, who, builder, fixes = CASES[case]
    url = url() if callable(url) else url
    client = _client(client, who)
    before = _measure(client, url)
    naive = _relations(before)

    assert {relation: naive[relation].fix() for relation in fixes} == fixes
    for relation, fix in fixes.items():
        with monkeypatch.context() as patched:
            _apply(patched, builder, fix)
            fixed = _measure(client, url)
        assert relation not in _relations(fixed), (relation, fix)
        assert fixed.query_count < before.query_count
