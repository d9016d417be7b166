"""The CSV export of order items."""

import csv
from collections.abc import Iterable
from typing import Any

from orders.models import OrderItem

EXPORT_HEADER = [
    "order_id", "ordered_at", "status", "customer_id", "sku", "product",
    "quantity", "unit_price", "line_total",
]  # fmt: skip


def order_items_write(*, items: Iterable[OrderItem], out: Any) -> None:
    """Write the header and one CSV line per item of `items` to `out`."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_HEADER)
    for item in items:
        writer.writerow(
            [
                item.order_id,
                item.order.created_at.isoformat(),
                item.order.status,
                item.order.customer_id,
                item.product.sku,
                item.product.name,
                item.quantity,
                item.unit_price,
                item.line_total,
            ]
        )
