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
    "bestseller_rows_expected",
    "category_link_rows_expected",
    "category_rows_expected",
    "category_sales_rows_expected",
    "changelist_rows_expected",
    "csv_rows_expected",
    "history_orders_expected",
    "product_list_rows_expected",
    "product_page_rows_expected",
    "recent_order_rows_expected",
    "review_rows_expected",
    "status_counts_expected",
]

PER_PAGE = 100
BESTSELLERS = 10
# Orders that brought money in (the shop's `REVENUE_STATUSES`).
REVENUE_STATUSES = ("paid", "shipped")
# Order.Status in the shop, in the order of its choices.
STATUS_LABELS = {
    "pending": "Pending",
    "paid": "Paid",
    "shipped": "Shipped",
    "cancelled": "Cancelled",
}


# An admin change list shows this many objects a page.
CHANGELIST_PER_PAGE = 100


def changelist_rows_expected(connection: Any, table: str) -> int:
    """Return how many objects an admin change list of `table` shows."""
    [(count,)] = _rows(connection, f"SELECT count(*) FROM {table}")
    return min(int(count), CHANGELIST_PER_PAGE)


def _rows(connection: Any, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall())


def product_list_rows_expected(connection: Any, term: str = "") -> list[Row]:
    """Return the first page of the product list, of names holding `term` if any.

    The name is matched ignoring case, as the shop's search does.
    """
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
        WHERE p.is_active AND strpos(upper(p.name), upper(%s)) > 0
        ORDER BY p.price, p.id
        LIMIT %s
        """,
        term,
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


def status_counts_expected(connection: Any) -> list[Row]:
    """Return every status with its number of orders, in the order of the choices."""
    counts = dict(
        _rows(connection, "SELECT status, count(*) FROM orders_order GROUP BY status")
    )
    return [
        (label, str(counts.get(status, 0))) for status, label in STATUS_LABELS.items()
    ]


def history_orders_expected(connection: Any, customer: int) -> list[Row]:
    """Return a customer's orders, newest first, each with its items sorted."""
    orders = _rows(
        connection,
        """
        SELECT o.id, to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
               o.status, o.total
        FROM orders_order o
        WHERE o.customer_id = %s
        ORDER BY o.created_at DESC, o.id DESC
        """,
        customer,
    )
    items: dict[int, list[Row]] = {number: [] for number, *_ in orders}
    for number, *item in _rows(
        connection,
        """
        SELECT i.order_id, p.name, i.quantity, i.unit_price,
               i.quantity * i.unit_price
        FROM orders_orderitem i
        JOIN orders_order o ON o.id = i.order_id
        JOIN catalog_product p ON p.id = i.product_id
        WHERE o.customer_id = %s
        """,
        customer,
    ):
        items[number].append(tuple(str(value) for value in item))
    return [
        (
            f"Order #{number} · {day} · {STATUS_LABELS[status]} · {total}",
            tuple(sorted(items[number])),
        )
        for number, day, status, total in orders
    ]


def category_rows_expected(connection: Any, category: int) -> list[Row]:
    """Return the product count and the active products of a category page."""
    found = _rows(
        connection,
        """
        SELECT p.name, p.price,
               (SELECT count(*) FROM catalog_review r
                WHERE r.product_id = p.id AND r.is_approved),
               (SELECT r.title FROM catalog_review r
                WHERE r.product_id = p.id AND r.is_approved
                ORDER BY r.created_at DESC LIMIT 1)
        FROM catalog_product p
        WHERE p.category_id = %s AND p.is_active
        ORDER BY p.name, p.id
        """,
        category,
    )
    rows: list[Row] = [("count", str(len(found)))]
    rows.extend(
        (name, str(price), str(reviews), latest or "")
        for name, price, reviews, latest in found
    )
    return rows


def csv_rows_expected(connection: Any, header: tuple[str, ...]) -> list[Row]:
    """Return the order items export, header first, one line per item by id."""
    found = _rows(
        connection,
        """
        SELECT o.id, o.created_at AT TIME ZONE 'UTC', o.status, o.customer_id,
               p.sku, p.name, i.quantity, i.unit_price
        FROM orders_orderitem i
        JOIN orders_order o ON o.id = i.order_id
        JOIN catalog_product p ON p.id = i.product_id
        ORDER BY i.id
        """,
    )
    # The shop writes created_at.isoformat() of an aware UTC datetime: the
    # naive UTC time read here, with the offset it prints.
    return [tuple(header)] + [
        (
            str(order),
            f"{created.isoformat()}+00:00",
            status,
            str(customer),
            sku,
            name,
            str(quantity),
            str(price),
            str(quantity * price),
        )
        for order, created, status, customer, sku, name, quantity, price in found
    ]


def product_page_rows_expected(connection: Any, product: int) -> list[Row]:
    """Return what a product page shows: name, price, stock and approved reviews."""
    [(name, price, stock)] = _rows(
        connection,
        "SELECT name, price, stock FROM catalog_product WHERE id = %s",
        product,
    )
    reviews = review_rows_expected(connection, product)
    return [
        ("name", name),
        ("price", str(price)),
        ("stock", f"{stock} in stock" if stock else "Out of stock"),
        ("reviews", str(len(reviews))),
        *(("review", *review) for review in reviews),
    ]


def category_link_rows_expected(connection: Any) -> list[Row]:
    """Return every category by name, as the product list links to it."""
    found = _rows(connection, "SELECT name, slug FROM catalog_category ORDER BY name")
    return [(name, f"/categories/{slug}/") for name, slug in found]


def bestseller_rows_expected(connection: Any, limit: int = BESTSELLERS) -> list[Row]:
    """Return the products that sold the most units in paid and shipped orders."""
    found = _rows(
        connection,
        """
        SELECT p.name, p.slug, sum(i.quantity), sum(i.quantity * i.unit_price)
        FROM orders_orderitem i
        JOIN orders_order o ON o.id = i.order_id
        JOIN catalog_product p ON p.id = i.product_id
        WHERE o.status = ANY(%s)
        GROUP BY p.id, p.name, p.slug
        ORDER BY 3 DESC, p.id
        LIMIT %s
        """,
        list(REVENUE_STATUSES),
        limit,
    )
    return [
        (name, slug, str(units), str(revenue)) for name, slug, units, revenue in found
    ]


def category_sales_rows_expected(connection: Any) -> list[Row]:
    """Return the units and revenue per category, highest revenue first."""
    found = _rows(
        connection,
        """
        SELECT c.name, sum(i.quantity), sum(i.quantity * i.unit_price)
        FROM orders_orderitem i
        JOIN orders_order o ON o.id = i.order_id
        JOIN catalog_product p ON p.id = i.product_id
        JOIN catalog_category c ON c.id = p.category_id
        WHERE o.status = ANY(%s)
        GROUP BY c.name
        ORDER BY 3 DESC, c.name
        """,
        list(REVENUE_STATUSES),
    )
    return [(name, str(units), str(revenue)) for name, units, revenue in found]
