"""What a shop page should show, computed by the trusted side from the run's data.

Plain SQL on a superuser connection to the run's database, written once from
the naive shop's pages: no shop code runs, so no submission can change what
its pages are compared with.
"""

from __future__ import annotations

from typing import Any

from django.template.defaultfilters import floatformat

from checker.trusted.reading import Row

__all__ = [
    "STATUS_LABELS",
    "product_list_rows_expected",
    "recent_order_rows_expected",
    "review_rows_expected",
]

PER_PAGE = 100
# Order.Status in the shop, in the order of its choices.
STATUS_LABELS = {
    "pending": "Pending",
    "paid": "Paid",
    "shipped": "Shipped",
    "cancelled": "Cancelled",
}


def _rows(connection: Any, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall())


def product_list_rows_expected(connection: Any) -> list[Row]:
    """Return the first page of the product list."""
    found = _rows(
        connection,
        """
        SELECT p.name, c.name, b.name,
               ARRAY(SELECT t.name FROM catalog_product_tags pt
                     JOIN catalog_tag t ON t.id = pt.tag_id
                     WHERE pt.product_id = p.id),
               p.price,
               (SELECT count(*) FROM catalog_review r
                WHERE r.product_id = p.id AND r.is_approved),
               (SELECT avg(r.rating) FROM catalog_review r
                WHERE r.product_id = p.id AND r.is_approved)
        FROM catalog_product p
        JOIN catalog_category c ON c.id = p.category_id
        JOIN catalog_brand b ON b.id = p.brand_id
        WHERE p.is_active
        ORDER BY p.price, p.id
        LIMIT %s
        """,
        PER_PAGE,
    )
    return [
        (
            name,
            category,
            brand,
            tuple(sorted(tags)),
            str(price),
            str(reviews),
            floatformat(float(rating) if rating is not None else None, 1),
        )
        for name, category, brand, tags, price, reviews, rating in found
    ]


def review_rows_expected(connection: Any, product: int) -> list[Row]:
    """Return the approved reviews of one product, newest first."""
    found = _rows(
        connection,
        """
        SELECT r.title, r.rating, u.username FROM catalog_review r
        JOIN customers_customer c ON c.id = r.customer_id
        JOIN auth_user u ON u.id = c.user_id
        WHERE r.product_id = %s AND r.is_approved
        ORDER BY r.created_at DESC
        """,
        product,
    )
    return [(title, str(rating), username) for title, rating, username in found]


def recent_order_rows_expected(connection: Any) -> list[Row]:
    """Return the 20 latest orders as the dashboard shows them."""
    found = _rows(
        connection,
        """
        SELECT o.id, u.username, o.status,
               (SELECT count(*) FROM orders_orderitem i WHERE i.order_id = o.id),
               o.total, o.created_at
        FROM orders_order o
        JOIN customers_customer c ON c.id = o.customer_id
        JOIN auth_user u ON u.id = c.user_id
        ORDER BY o.created_at DESC, o.id DESC
        LIMIT 20
        """,
    )
    return [
        (
            f"#{number}",
            username,
            STATUS_LABELS[status],
            str(items),
            str(total),
            created.strftime("%Y-%m-%d"),
        )
        for number, username, status, items, total, created in found
    ]
