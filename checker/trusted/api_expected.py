"""What the shop's API should answer, computed by the trusted side from the data.

Plain SQL on the run's database, written once from the naive shop's
serializers: no shop code runs, so no submission can change what its
responses are compared with. Lists are compared on the fields every list
keeps (a lean list may drop the others); details field for field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "LISTED_AT_LEAST",
    "assert_fields",
    "assert_list",
    "ids",
    "order_detail",
    "order_list",
    "product_detail",
    "product_list",
]

# A list's first page shows at least this many items when there are as many.
LISTED_AT_LEAST = 25
_TABLES = {
    "catalog_product": ("SELECT id FROM catalog_product WHERE is_active ORDER BY id"),
    "orders_order": "SELECT id FROM orders_order ORDER BY id DESC",
}
_DATES = ("created_at", "updated_at")


def _rows(connection: Any, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall())


def ids(connection: Any, table: str) -> list[int]:
    """Return the ids an API list of `table` shows, in its order."""
    return [pk for (pk,) in _rows(connection, _TABLES[table])]


def _reviews(connection: Any, product: int) -> tuple[int, float | None]:
    [(count, average)] = _rows(
        connection,
        "SELECT count(*), avg(rating)::float8 FROM catalog_review"
        " WHERE product_id = %s AND is_approved",
        product,
    )
    return int(count), average


def product_list(connection: Any, shown: int) -> list[dict[str, Any]]:
    """Return the fields every product list keeps, for its first rows."""
    found = _rows(
        connection,
        "SELECT id, slug, price::text FROM catalog_product WHERE is_active"
        " ORDER BY id LIMIT %s",
        max(shown, LISTED_AT_LEAST),
    )
    return [
        {
            "id": pk,
            "slug": slug,
            "price": price,
            **dict(
                zip(
                    ("review_count", "average_rating"),
                    _reviews(connection, pk),
                    strict=True,
                )
            ),
        }
        for pk, slug, price in found
    ]


def order_list(connection: Any, shown: int) -> list[dict[str, Any]]:
    """Return the fields every order list keeps, for its first rows."""
    found = _rows(
        connection,
        "SELECT id, status, total::text FROM orders_order ORDER BY id DESC LIMIT %s",
        max(shown, LISTED_AT_LEAST),
    )
    return [{"id": pk, "status": status, "total": total} for pk, status, total in found]


def _named(connection: Any, table: str, pk: int) -> dict[str, Any]:
    [(name, slug)] = _rows(
        connection, f"SELECT name, slug FROM {table} WHERE id = %s", pk
    )
    return {"id": pk, "name": name, "slug": slug}


def product_detail(connection: Any, pk: int) -> dict[str, Any]:
    """Return the full product the detail endpoint shows."""
    [row] = _rows(
        connection,
        "SELECT id, name, slug, sku, price::text, stock, description, category_id,"
        " brand_id, created_at, updated_at FROM catalog_product WHERE id = %s",
        pk,
    )
    (_, name, slug, sku, price, stock, description, category, brand, made, changed) = (
        row
    )
    count, average = _reviews(connection, pk)
    tags = _rows(
        connection,
        "SELECT t.id, t.name, t.slug FROM catalog_tag t"
        " JOIN catalog_product_tags pt ON pt.tag_id = t.id"
        " WHERE pt.product_id = %s ORDER BY t.id",
        pk,
    )
    images = _rows(
        connection,
        "SELECT id, position FROM catalog_productimage WHERE product_id = %s"
        " ORDER BY id",
        pk,
    )
    return {
        "id": pk,
        "name": name,
        "slug": slug,
        "sku": sku,
        "price": price,
        "stock": stock,
        "description": description,
        "category": _named(connection, "catalog_category", category),
        "brand": _named(connection, "catalog_brand", brand),
        "tags": [{"id": t, "name": n, "slug": s} for t, n, s in tags],
        "images": [{"id": i, "position": p} for i, p in images],
        "review_count": count,
        "average_rating": average,
        "created_at": made,
        "updated_at": changed,
    }


def order_detail(connection: Any, pk: int) -> dict[str, Any]:
    """Return the full order the detail endpoint shows, items by id."""
    [(status, made, total, customer, username, email, city)] = _rows(
        connection,
        "SELECT o.status, o.created_at, o.total::text, c.id, u.username, u.email,"
        " c.city FROM orders_order o JOIN customers_customer c ON c.id ="
        " o.customer_id JOIN auth_user u ON u.id = c.user_id WHERE o.id = %s",
        pk,
    )
    items = _rows(
        connection,
        "SELECT i.id, p.id, p.name, p.slug, p.sku, i.quantity, i.unit_price::text,"
        " (i.quantity * i.unit_price)::numeric(12, 2)::text"
        " FROM orders_orderitem i JOIN catalog_product p ON p.id = i.product_id"
        " WHERE i.order_id = %s ORDER BY i.id",
        pk,
    )
    return {
        "id": pk,
        "status": status,
        "created_at": made,
        "total": total,
        "customer": {
            "id": customer,
            "username": username,
            "email": email,
            "city": city,
        },
        "items": [
            {
                "id": item,
                "product": {"id": product, "name": name, "slug": slug, "sku": sku},
                "quantity": quantity,
                "unit_price": price,
                "line_total": line,
            }
            for item, product, name, slug, sku, quantity, price, line in items
        ],
    }


def _shown(value: Any, want: Any) -> Any:
    """Bring a JSON value to the form of the expected one."""
    if isinstance(want, datetime) and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(want, list) and isinstance(value, list):
        # Related rows have no order of their own: compare them by id.
        rows = sorted(value, key=lambda row: str(row.get("id")))
        wanted = sorted(want, key=lambda row: str(row.get("id")))
        return [_shown(row, w) for row, w in zip(rows, wanted, strict=False)] + rows[
            len(wanted) :
        ]
    if isinstance(want, dict) and isinstance(value, dict):
        return {key: _shown(value.get(key), want[key]) for key in want} | {
            key: value[key] for key in value if key not in want
        }
    return value


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, int | float):
        return abs(got - want) < 1e-9
    if isinstance(want, dict) and isinstance(got, dict):
        # Top-level fields are compared as sets by the caller; a nested
        # object is compared on the fields the naive shop shows.
        return all(key in got and _same(got[key], want[key]) for key in want)
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(map(_same, got, want))
    return bool(got == want)


def assert_fields(what: str, got: Any, want: dict[str, Any]) -> None:
    """Fail naming the first field of a detail that differs from the database."""
    if not isinstance(got, dict):
        raise AssertionError(f"{what} answered {str(got)[:200]}, not an object")
    shown = _shown(got, want)
    extra = sorted(set(shown) - set(want))
    missing = sorted(set(want) - set(got))
    if extra or missing:
        raise AssertionError(
            f"{what} has fields {extra} that it did not have and lacks {missing}: "
            "the detail must not change, field for field."
        )
    for key in want:
        if not _same(shown[key], want[key]):
            raise AssertionError(
                f"{what} shows {key}={got[key]!r}; the database says "
                f"{want[key]!r}. The detail must not change, field for field."
            )


def assert_list(what: str, items: list[Any], want: list[dict[str, Any]]) -> None:
    """Fail naming the first listed item whose kept fields differ from the data."""
    wanted = want[: len(items)] if len(items) >= LISTED_AT_LEAST else want
    if len(items) != len(wanted):
        raise AssertionError(
            f"{what} lists {len(items)} items; the database holds {len(want)} "
            f"of which the first page must show at least {LISTED_AT_LEAST}."
        )
    for number, (item, row) in enumerate(zip(items, wanted, strict=True), 1):
        if not isinstance(item, dict):
            raise AssertionError(f"{what} item {number} is {item!r}, not an object")
        for key, value in row.items():
            if key not in item or not _same(item[key], value):
                raise AssertionError(
                    f"{what} item {number} shows {key}={item.get(key)!r}; the "
                    f"database says {value!r}. The list must keep {sorted(row)}."
                )
