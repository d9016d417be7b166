"""Read what a shop page shows, and what it should show according to the database.

A refactor must not change a page: the "same-output" budgets compare the
rendered rows with rows computed here from the database in the plainest way.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Sequence
from typing import Any

from django.db.models import Avg
from django.template.defaultfilters import floatformat

from catalog.models import Category, Product
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

Row = tuple[Any, ...]
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
PER_PAGE = 100


def _text(fragment: str) -> str:
    return html.unescape(_SPACE.sub(" ", _TAG.sub("", fragment))).strip()


def _rows(page: str, row_class: str) -> list[list[str]]:
    found = re.findall(rf'<tr class="{row_class}">(.*?)</tr>', page, re.DOTALL)
    return [re.findall(r"<td>(.*?)</td>", row, re.DOTALL) for row in found]


def assert_same(what: str, shown: Sequence[Row], expected: Sequence[Row]) -> None:
    """Fail naming the first row that differs from the database's."""
    if list(shown) == list(expected):
        return
    if len(shown) != len(expected):
        raise AssertionError(
            f"{what} shows {len(shown)} rows; the database says {len(expected)}. "
            "The change must not alter what the page shows."
        )
    number, (got, want) = next(
        (n, pair)
        for n, pair in enumerate(zip(shown, expected, strict=True), 1)
        if pair[0] != pair[1]
    )
    raise AssertionError(
        f"{what} row {number} shows {got!r}; the database says {want!r}. "
        "The change must not alter what the page shows."
    )


def product_list_rows(page: str) -> list[Row]:
    """Return name, category, brand, tags, price, reviews, rating per row."""
    rows = []
    for cells in _rows(page, "product"):
        tags = tuple(
            sorted(_text(t) for t in re.findall(r"<span[^>]*>(.*?)</span>", cells[3]))
        )
        rows.append(
            (
                _text(cells[0]),
                _text(cells[1]),
                _text(cells[2]),
                tags,
                *map(_text, cells[4:]),
            )
        )
    return rows


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


def review_rows(page: str) -> list[Row]:
    """Return the title, rating and author of each review on a product page."""
    return re.findall(
        r'<article class="review">\s*<h3>(.*?) \((\d)/5\)</h3>\s*<p>by (.*?) on', page
    )


def review_rows_expected(product: Product) -> list[Row]:
    """Return the approved reviews of `product`, newest first."""
    reviews = product.reviews.filter(is_approved=True).order_by("-created_at")
    return [(r.title, str(r.rating), r.customer.user.username) for r in reviews]


def recent_order_rows(page: str) -> list[Row]:
    """Return the cells of the dashboard's recent orders."""
    return [tuple(_text(cell) for cell in cells) for cells in _rows(page, "order")]


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


def status_counts(page: str) -> list[Row]:
    """Return the dashboard's orders per status."""
    return re.findall(r"<li>(\w+): (\d+)</li>", page)


def status_counts_expected() -> list[Row]:
    """Return every status with its number of orders, in the order of the choices."""
    return [
        (status.label, str(Order.objects.filter(status=status).count()))
        for status in Order.Status
    ]


def history_orders(page: str) -> list[Row]:
    """Return each order's heading and its items (sorted) from a history page."""
    orders = []
    for section in re.findall(
        r'<section class="order">(.*?)</section>', page, re.DOTALL
    ):
        heading = _text(re.search(r"<h2>(.*?)</h2>", section, re.DOTALL).group(1))  # type: ignore[union-attr]
        items = sorted(
            tuple(_text(c) for c in cells) for cells in _rows(section, "item")
        )
        orders.append((heading, tuple(items)))
    return orders


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


def category_rows(page: str) -> list[Row]:
    """Return the product count line and each product row of a category page."""
    count = re.findall(r"<p>(\d+) products</p>", page)
    rows = [tuple(_text(cell) for cell in cells) for cells in _rows(page, "product")]
    return [("count", *count), *rows]


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


def csv_rows(content: bytes) -> list[Row]:
    """Return the rows of a CSV export, header first."""
    return [tuple(row) for row in csv.reader(io.StringIO(content.decode()))]


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
