"""Staff users for the trusted tests of staff pages, made inside the shop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checker.growth import Growth
from checker.harness.shop import Shop
from checker.trusted import expected, reading

__all__ = ["changelist_verify", "orders_make", "staff_growth", "staff_make"]


def staff_make(shop: Shop) -> str:
    """Create a superuser in the shop and return its username."""
    return str(shop.build("staff_make")["username"])


def orders_make(shop: Shop, orders: int) -> None:
    """Make `orders` orders of two customers, as the staff pages list them."""
    shop.build("orders_make", orders=orders, customers=shop.build("customers_make", 2))


def staff_growth(
    shop: Shop,
    path: str,
    noun: str,
    build: Callable[[int], Any],
    rows: str,
    verify: Callable[[Any], object] | None = None,
) -> Growth:
    """Measure a staff page at three sizes; each size has its own staff user.

    `shop.grow` empties every table before each size, users included, so the
    staff user is made again with the data.
    """
    made: dict[str, str] = {}

    def staffed(size: int) -> None:
        made["staff"] = staff_make(shop)
        build(size)

    return shop.grow(
        staffed,
        lambda: shop.get(path, user=made["staff"]),
        noun=noun,
        label=f"GET {path}",
        rows=rows,
        verify=verify,
    )


def changelist_verify(connection: Any, path: str, table: str) -> Callable[[Any], None]:
    """Return a check that an admin change list shows the objects of `table`."""

    def verify(page: Any) -> None:
        shown = reading.admin_rows(page.text)
        wanted = expected.changelist_rows_expected(connection, table)
        if shown != wanted:
            raise AssertionError(
                f"GET {path} shows {shown} objects; the database says {wanted}. "
                "The change must not alter what the page shows."
            )

    return verify
