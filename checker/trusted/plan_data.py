"""Plan-sized data for lesson 7, made by the trusted side in a few statements.

A query plan only means something on a table big enough for the planner to
choose: on a few hundred rows a sequential scan is the right plan. The rows
are inserted here with `generate_series`, on the run's database as the run's
role, so no shop code decides how much data its queries are measured on,
and thousands of rows cost a fraction of a second. `VACUUM ANALYZE` then
gives the planner its statistics and the visibility map an index-only scan
needs, as autovacuum would on a live shop.

Most of a fill's time is not making the rows but checking their foreign keys,
one lookup per row. So each fill drops the foreign keys of the tables it
writes, inserts, and adds them again in the same transaction: PostgreSQL then
checks each with one join over the whole table, and the shop's schema is the
same afterwards. When they cannot be dropped (a lock the shop holds, a key
another table's definition owns), the fill checks each row as before.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

__all__ = [
    "KEYS_ONCE",
    "TABLES",
    "Fill",
    "PlanDataError",
    "PlanSizes",
    "catalog_fill",
    "orders_fill",
    "plan_sizes",
    "search_terms",
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
# A shop that holds a lock on a table it is filled through makes the fill
# wait this long, then check each row instead of dropping the keys.
LOCK_TIMEOUT_MS = 5_000
KEYS_ONCE = "checked once per table"
# How long a fill waits for the snapshots that keep VACUUM from marking its
# rows visible to all (see tables_analyze).
VISIBLE_WAIT_SECONDS = 10.0
# Every table a fill writes, parents before the tables that point at them.
TABLES = (
    "auth_user",
    "customers_customer",
    "catalog_category",
    "catalog_brand",
    "catalog_product",
    "catalog_review",
    "orders_order",
    "orders_orderitem",
)
_FOREIGN_KEYS = (
    "SELECT n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid)"
    " FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE k.contype = 'f' AND n.nspname = 'public' AND c.relname = ANY(%s)"
    " ORDER BY c.relname, k.conname"
)


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


@dataclass(frozen=True)
class Fill:
    """One fill: the seconds it took and how its rows' foreign keys were checked."""

    seconds: float
    keys: str = ""


def _keys_checked(
    connection: Any, tables: Sequence[str], insert: Callable[[], None], *, once: bool
) -> str:
    """Run `insert` with the foreign keys of `tables` checked; say how they were.

    With `once`, the keys are dropped, the rows inserted and the keys added
    again with the definitions PostgreSQL printed, in one transaction: any
    row the keys refuse fails the whole fill, as it would row by row. If that
    fails, everything is rolled back and `insert` runs again with each row
    checked, so a failure of the rows themselves is raised from there.
    """
    reason = "asked to"
    if once:
        counters: list[tuple[str, int, bool]] = []
        try:
            counters = _sequences(connection, tables)
            with connection.transaction():
                connection.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(LOCK_TIMEOUT_MS)
                    )
                )
                keys = connection.execute(_FOREIGN_KEYS, [list(tables)]).fetchall()
                for _, table, name, _ in keys:
                    connection.execute(
                        sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                            sql.Identifier(table), sql.Identifier(name)
                        )
                    )
                insert()
                for _, table, name, definition in keys:
                    connection.execute(
                        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                            sql.Identifier(table),
                            sql.Identifier(name),
                            sql.SQL(definition),
                        )
                    )
            return KEYS_ONCE
        except psycopg.Error as error:
            reason = str(error).strip().splitlines()[0] if str(error) else repr(error)
            # A rollback leaves sequences where the rows took them: put them
            # back, so the rows get the ids a fill checked row by row gives.
            for name, value, called in counters:
                connection.execute(
                    "SELECT setval(%s::regclass, %s, %s)", [name, value, called]
                )
    insert()
    return f"checked row by row ({reason})"


def _sequences(connection: Any, tables: Sequence[str]) -> list[tuple[str, int, bool]]:
    """Return each id sequence of `tables` with its last value and is_called."""
    found = []
    for table in tables:
        [(name,)] = connection.execute(
            "SELECT pg_get_serial_sequence(%s, 'id')", [table]
        ).fetchall()
        if name:
            # The server's own, quoted where it must be.
            [(value, called)] = connection.execute(
                sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(name))
            ).fetchall()
            found.append((name, value, called))
    return found


def _filled(
    connection: Any,
    rows: dict[str, int],
    insert: Callable[[], None],
    *,
    started: float,
    keys_once: bool,
) -> Fill:
    """Run `insert` into the tables of `rows`, check each holds its rows, analyze."""
    tables = tuple(rows)
    keys = _keys_checked(connection, tables, insert, once=keys_once)
    for table, count in rows.items():
        _at_least(connection, table, count)
    tables_analyze(connection, *tables)
    return Fill(time.perf_counter() - started, keys)


def plan_sizes(seed: int) -> PlanSizes:
    """Draw the first size from the run's seed, a little above `small`."""
    rng = random.Random(seed)
    return PlanSizes(PRODUCTS + rng.randrange(300), ORDERS + rng.randrange(1_200))


def search_terms(seed: int, products: int, count: int = 3) -> list[str]:
    """Draw, from the run's seed, `count` search terms, each one active product's.

    The products are named "Product <n>": a four-digit number below
    `products` names one of them, and no other below 10,000 products, so
    each term finds the same single product when the catalog doubles. The
    terms are in lower case, as a visitor types them.
    """
    rng = random.Random(seed)
    numbers = [n for n in range(1_000, min(products, 10_000)) if n % 20]
    return [f"duct {number}" for number in rng.sample(numbers, count)]


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


def catalog_fill(
    connection: Any, *, products: int, seed: int, keys_once: bool = True
) -> Fill:
    """Grow the catalog to `products` products with ten reviews each.

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
        return Fill(0.0)
    # An odd multiplier modulo a prime spreads prices over the whole range.
    offset = random.Random(seed).randrange(1, 9_973)

    def insert() -> None:
        _catalog_insert(
            connection, have=have, products=products, offset=offset, customers=customers
        )

    return _filled(
        connection,
        {
            "catalog_product": products,
            "catalog_review": products * REVIEWS_PER_PRODUCT,
        },
        insert,
        started=started,
        keys_once=keys_once,
    )


def _catalog_insert(
    connection: Any, *, have: int, products: int, offset: int, customers: list[int]
) -> None:
    """Insert products `have + 1` to `products`, then their reviews."""
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


def orders_fill(
    connection: Any,
    *,
    orders: int,
    items: int = ITEMS_PER_ORDER,
    keys_once: bool = True,
) -> Fill:
    """Grow the orders to `orders`, with `items` items each (three by default).

    Each new order is older than the ones before, so the newest orders, the
    page the dashboard shows, stay the same as the table grows.
    """
    started = time.perf_counter()
    customers = _customers(connection)
    [(have,)] = connection.execute("SELECT count(*) FROM orders_order").fetchall()
    if orders <= have:
        return Fill(0.0)
    if (
        items
        and not connection.execute("SELECT 1 FROM catalog_product LIMIT 1").fetchone()
    ):
        catalog_fill(connection, products=100, seed=0, keys_once=keys_once)

    def insert() -> None:
        _orders_insert(
            connection, have=have, orders=orders, items=items, customers=customers
        )

    return _filled(
        connection,
        {"orders_order": orders, "orders_orderitem": orders * items},
        insert,
        started=started,
        keys_once=keys_once,
    )


def _orders_insert(
    connection: Any, *, have: int, orders: int, items: int, customers: list[int]
) -> None:
    """Insert orders `have` to `orders - 1`, each older than the last, and items."""
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
    if not items:
        return
    connection.execute(
        "INSERT INTO orders_orderitem (order_id, product_id, quantity, unit_price)"
        " SELECT o.id, p.lowest + (o.id * 31 + k) %% p.n, 1 + k, 9.99"
        " FROM orders_order o, generate_series(1, %s::int) k,"
        " (SELECT min(id) AS lowest, count(*) AS n FROM catalog_product) p"
        " WHERE o.id > (SELECT coalesce(max(order_id), 0) FROM orders_orderitem)",
        [items],
    )


def tables_analyze(connection: Any, *tables: str) -> None:
    """Vacuum and analyze `tables`, as autovacuum would after a bulk load.

    VACUUM marks a page all-visible only if no snapshot older than its rows
    is open in the database; an autovacuum ANALYZE that began during the fill
    holds one. Then an index-only scan reads the table's pages after all, and
    a page's buffers would depend on that timing. So each table is vacuumed
    again, for up to VISIBLE_WAIT_SECONDS, until its visibility map covers it.
    """
    for table in tables:
        # Table names come from this module only.
        connection.execute(f"VACUUM (ANALYZE) {table}")
        deadline = time.monotonic() + VISIBLE_WAIT_SECONDS
        while not _all_visible(connection, table) and time.monotonic() < deadline:
            time.sleep(0.1)
            connection.execute(f"VACUUM {table}")


def _all_visible(connection: Any, table: str) -> bool:
    pages, visible = connection.execute(
        "SELECT relpages, relallvisible FROM pg_class WHERE oid = %s::regclass",
        [table],
    ).fetchone()
    return bool(visible >= pages)
