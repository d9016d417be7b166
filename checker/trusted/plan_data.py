"""Plan-sized data for lesson 7, made by the trusted side in a few statements.

A query plan only means something on a table big enough for the planner to
choose: on a few hundred rows a sequential scan is the right plan. The rows
are inserted here with `generate_series`, on the run's database as the run's
role, so no shop code decides how much data its queries are measured on,
and thousands of rows cost a fraction of a second. `VACUUM ANALYZE` then
gives the planner its statistics and the visibility map an index-only scan
needs, as autovacuum would on a live shop.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PlanDataError",
    "PlanSizes",
    "catalog_fill",
    "orders_fill",
    "plan_sizes",
    "tables_analyze",
]

# The shop's "small" scale (`seeding.scales`): 3,000 products with ten reviews
# each, 12,000 orders of about three items. Big enough that the planner takes
# an index for a page of rows when one fits, small enough to build in well
# under a second.
PRODUCTS = 3_000
REVIEWS_PER_PRODUCT = 10
ORDERS = 12_000
ITEMS_PER_ORDER = 3
# The seeded shop's products carry descriptions of about this many characters;
# they make the table as wide, in pages, as the shop's own.
DESCRIPTION_CHARS = 1_500
CUSTOMERS = 50
EPOCH = "2026-01-01T00:00:00+00:00"


class PlanDataError(AssertionError):
    """The data the checker made is not all there: the shop changed it."""


def _at_least(connection: Any, table: str, rows: int) -> None:
    """Fail when `table` holds fewer than `rows` rows after a fill.

    The rows are inserted as the run's role, so a trigger of the shop's own
    could delete some of them, and a page over less data looks cheaper.
    """
    # Table names come from this module only.
    [(found,)] = connection.execute(f"SELECT count(*) FROM {table}").fetchall()
    if found < rows:
        raise PlanDataError(
            f"The checker inserted {rows:,} rows into {table} and {found:,} are "
            "left: the shop must not change the data the checker builds"
        )


@dataclass(frozen=True)
class PlanSizes:
    """The two sizes a lesson 7 budget is measured at: the second twice the first."""

    products: int
    orders: int

    def doubled(self) -> PlanSizes:
        return PlanSizes(self.products * 2, self.orders * 2)


def plan_sizes(seed: int) -> PlanSizes:
    """Draw the first size from the run's seed, a little above `small`."""
    rng = random.Random(seed)
    return PlanSizes(PRODUCTS + rng.randrange(300), ORDERS + rng.randrange(1_200))


def _customers(connection: Any) -> list[int]:
    """Return the ids of the plan's customers, one after the other, made once."""
    found = [row[0] for row in connection.execute(
        "SELECT c.id FROM customers_customer c JOIN auth_user u ON u.id = c.user_id"
        " WHERE u.username LIKE 'plan-user-%%' ORDER BY c.id"
    ).fetchall()]  # fmt: skip
    if found:
        return found
    connection.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name,"
        " last_name, email, is_staff, is_active, date_joined)"
        " SELECT '!', false, 'plan-user-' || g, '', '', '', false, true, %s"
        " FROM generate_series(1, %s::int) g",
        [EPOCH, CUSTOMERS],
    )
    rows = connection.execute(
        "INSERT INTO customers_customer (phone, city, created_at, user_id)"
        " SELECT '', 'Plan City', %s, id FROM auth_user"
        " WHERE username LIKE 'plan-user-%%' ORDER BY id RETURNING id",
        [EPOCH],
    ).fetchall()
    return [row[0] for row in rows]


def catalog_fill(connection: Any, *, products: int, seed: int) -> float:
    """Grow the catalog to `products` products with ten reviews each; return seconds.

    Prices are spread pseudo-randomly, so the cheapest products are not the
    first rows of the table; one product in twenty is inactive; one review
    in five awaits moderation. Reviews arrive in a shuffled product order,
    as on a live shop, so one product's reviews lie on many pages.
    """
    started = time.perf_counter()
    customers = _customers(connection)
    if not connection.execute("SELECT 1 FROM catalog_category LIMIT 1").fetchone():
        connection.execute(
            "INSERT INTO catalog_category (name, slug) SELECT 'Category ' || g,"
            " 'plan-category-' || g FROM generate_series(1, 20) g"
        )
        connection.execute(
            "INSERT INTO catalog_brand (name, slug) SELECT 'Brand ' || g,"
            " 'plan-brand-' || g FROM generate_series(1, 40) g"
        )
    [(have,)] = connection.execute("SELECT count(*) FROM catalog_product").fetchall()
    if products <= have:
        return 0.0
    # An odd multiplier modulo a prime spreads prices over the whole range.
    offset = random.Random(seed).randrange(1, 9_973)
    connection.execute(
        "INSERT INTO catalog_product (name, slug, sku, price, stock, is_active,"
        " description, created_at, updated_at, brand_id, category_id)"
        " SELECT 'Product ' || g, 'plan-product-' || g, 'PLAN-' || g,"
        " 1 + ((g * 7919 + %(offset)s) %% 9973) / 10.0, 10, g %% 20 <> 0,"
        " repeat('A plain description. ', %(words)s), %(epoch)s, %(epoch)s,"
        " (SELECT min(id) FROM catalog_brand) + g %% 40,"
        " (SELECT min(id) FROM catalog_category) + g %% 20"
        " FROM generate_series(%(first)s::int, %(last)s::int) g",
        {
            "offset": offset,
            "words": DESCRIPTION_CHARS // 21,
            "epoch": EPOCH,
            "first": have + 1,
            "last": products,
        },
    )
    # The new products' ids run from `lowest` up, one after the other; an
    # id computed per row costs nothing, where indexing an array of them
    # would copy the whole array for every review.
    connection.execute(
        "INSERT INTO catalog_review (rating, title, body, is_approved, created_at,"
        " customer_id, product_id)"
        " SELECT 1 + g %% 5, 'Review ' || g, repeat('Good value. ', 15),"
        " g %% 5 <> 0, %(epoch)s::timestamptz - g * interval '1 minute',"
        " %(customer)s + g %% %(count)s, p.lowest + (g * 7907) %% p.n"
        " FROM generate_series(0, %(reviews)s::int - 1) g,"
        " (SELECT min(id) AS lowest, count(*) AS n FROM catalog_product"
        "  WHERE id > (SELECT coalesce(max(product_id), 0) FROM catalog_review)) p",
        {
            "epoch": EPOCH,
            "customer": customers[0],
            "count": len(customers),
            "reviews": (products - have) * REVIEWS_PER_PRODUCT,
        },
    )
    _at_least(connection, "catalog_product", products)
    _at_least(connection, "catalog_review", products * REVIEWS_PER_PRODUCT)
    tables_analyze(connection, "catalog_product", "catalog_review")
    return time.perf_counter() - started


def orders_fill(connection: Any, *, orders: int) -> float:
    """Grow the orders to `orders`, three items each; return the seconds taken.

    Each new order is older than the ones before, so the newest orders, the
    page the dashboard shows, stay the same as the table grows.
    """
    started = time.perf_counter()
    customers = _customers(connection)
    [(have,)] = connection.execute("SELECT count(*) FROM orders_order").fetchall()
    if orders <= have:
        return 0.0
    if not connection.execute("SELECT 1 FROM catalog_product LIMIT 1").fetchone():
        catalog_fill(connection, products=100, seed=0)
    statuses = ["pending", "paid", "shipped", "cancelled"]
    connection.execute(
        "INSERT INTO orders_order (customer_id, status, created_at, total)"
        " SELECT %(customer)s + g %% %(count)s,"
        " (%(statuses)s::text[])[1 + g %% 4],"
        " %(epoch)s::timestamptz - g * interval '1 minute', 10 + g %% 90"
        " FROM generate_series(%(first)s::int, %(last)s::int) g",
        {
            "customer": customers[0],
            "count": len(customers),
            "statuses": statuses,
            "epoch": EPOCH,
            "first": have,
            "last": orders - 1,
        },
    )
    connection.execute(
        "INSERT INTO orders_orderitem (order_id, product_id, quantity, unit_price)"
        " SELECT o.id, p.lowest + (o.id * 31 + k) %% p.n, 1 + k, 9.99"
        " FROM orders_order o, generate_series(1, %s::int) k,"
        " (SELECT min(id) AS lowest, count(*) AS n FROM catalog_product) p"
        " WHERE o.id > (SELECT coalesce(max(order_id), 0) FROM orders_orderitem)",
        [ITEMS_PER_ORDER],
    )
    _at_least(connection, "orders_order", orders)
    _at_least(connection, "orders_orderitem", orders * ITEMS_PER_ORDER)
    tables_analyze(connection, "orders_order", "orders_orderitem")
    return time.perf_counter() - started


def tables_analyze(connection: Any, *tables: str) -> None:
    """Vacuum and analyze `tables`, as autovacuum would after a bulk load."""
    for table in tables:
        # Table names come from this module only.
        connection.execute(f"VACUUM (ANALYZE) {table}")
