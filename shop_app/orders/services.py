"""Writes about orders: placing them and building the sales report."""

import csv
import io
from collections.abc import Sequence

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from catalog.models import Product
from customers.models import Customer
from orders import selectors
from orders.models import Order, OrderItem

REPORT_HEADER = ["product_id", "product", "units", "revenue"]


def order_create(*, customer: Customer, lines: Sequence[tuple[Product, int]]) -> Order:
    """Place a pending order of `(product, quantity)` lines at today's prices."""
    if not lines:
        raise ValueError("an order needs at least one line")
    with transaction.atomic():
        order = Order.objects.create(customer=customer)
        items = OrderItem.objects.bulk_create(
            OrderItem(order=order, product=product, quantity=quantity,
                      unit_price=product.price)
            for product, quantity in lines
        )  # fmt: skip
        order.total = sum((item.line_total for item in items), start=order.total)
        order.save(update_fields=["total"])
    return order


def sales_report_build() -> str:
    """Write the sales of every product to a CSV file in storage; return its name."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REPORT_HEADER)
    for sale in selectors.sales_bestsellers(limit=None):
        writer.writerow(
            [sale["product_id"], sale["product__name"], sale["units"], sale["revenue"]]
        )
    name = f"reports/sales-{timezone.now():%Y%m%d-%H%M%S}.csv"
    return default_storage.save(name, ContentFile(buffer.getvalue().encode()))
