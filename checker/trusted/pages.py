"""What a shop page should show according to the database, read in the shop.

For the trusted tests under `inside/`, which run in the shop's process: the
"same-output" budgets compare the rendered rows (`checker.trusted.reading`)
with rows computed here through the shop's models in the plainest way.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Avg
from django.template.defaultfilters import floatformat

from catalog.models import Category, Product
from checker.trusted.reading import (
    Row,
    assert_same,
    category_rows,
    csv_rows,
    history_orders,
    product_list_rows,
    recent_order_rows,
    review_rows,
    status_counts,
)
from customers.models import Customer
from orders.models import Order, OrderItem

__all__ = [
    "assert_same",
    "category_rows",
    "category_rows_expected",
    "csv_rows",
    "csv_rows_expected",
    "history_orders",
    "history_orders_expected",
    "product_list_rows",
    "product_list_rows_expected",
    "recent_order_rows",
    "recent_order_rows_expected",
    "review_rows",
    "review_rows_expected",
    "status_counts",
    "status_counts_expected",
]

PER_PAGE = 100


def product_list_rows_expected() -> list[Row]:
    """Return the first page of the product list, computed row by row."""
    products = Product.objects.filter(is_active=True).order_by("price", "id")[:PER_PAGE]
    rows = []
    for product in products:
        approved = product.reviews.filter(is_approved=True)
        rating = approved.aggregate(Avg("rating"))["rating__avg"]
        rows.append(
            (
                product.name,
                product.category.name,
                product.brand.name,
                tuple(sorted(tag.name for tag in product.tags.all())),
                str(product.price),
                str(approved.count()),
                floatformat(rating, 1),
            )
        )
    return rows


def review_rows_expected(product: Product) -> list[Row]:
    """Return the approved reviews of `product`, newest first."""
    reviews = product.reviews.filter(is_approved=True).order_by("-created_at")
    return [(r.title, str(r.rating), r.customer.user.username) for r in reviews]


def recent_order_rows_expected() -> list[Row]:
    """Return the 20 latest orders as the dashboard shows them."""
    orders = Order.objects.order_by("-created_at", "-id")[:20]
    return [
        (
            f"#{order.pk}",
            order.customer.user.username,
            order.get_status_display(),
            str(OrderItem.objects.filter(order=order).count()),
            str(order.total),
            order.created_at.strftime("%Y-%m-%d"),
        )
        for order in orders
    ]


def status_counts_expected() -> list[Row]:
    """Return every status with its number of orders, in the order of the choices."""
    return [
        (status.label, str(Order.objects.filter(status=status).count()))
        for status in Order.Status
    ]


def history_orders_expected(customer: Customer) -> list[Row]:
    """Return the customer's orders, newest first, with their items."""
    orders = []
    for order in customer.orders.order_by("-created_at", "-id"):
        heading = (
            f"Order #{order.pk} · {order.created_at:%Y-%m-%d} · "
            f"{order.get_status_display()} · {order.total}"
        )
        items = sorted(
            (
                item.product.name,
                str(item.quantity),
                str(item.unit_price),
                str(item.line_total),
            )
            for item in OrderItem.objects.filter(order=order)
        )
        orders.append((heading, tuple(items)))
    return orders


def category_rows_expected(category: Category) -> list[Row]:
    """Return what a category page shows, computed product by product."""
    products = category.products.filter(is_active=True).order_by("name", "id")
    rows: list[Row] = [("count", str(products.count()))]
    for product in products:
        approved = list(
            product.reviews.filter(is_approved=True).order_by("-created_at")
        )
        latest = approved[0].title if approved else ""
        rows.append((product.name, str(product.price), str(len(approved)), latest))
    return rows


def csv_rows_expected(header: Sequence[str]) -> list[Row]:
    """Return the export every order item should produce, header first."""
    rows: list[Row] = [tuple(header)]
    for item in OrderItem.objects.order_by("id"):
        order, product = Order.objects.get(pk=item.order_id), item.product
        rows.append(
            (
                str(order.pk),
                order.created_at.isoformat(),
                order.status,
                str(order.customer_id),
                product.sku,
                product.name,
                str(item.quantity),
                str(item.unit_price),
                str(item.quantity * item.unit_price),
            )
        )
    return rows
