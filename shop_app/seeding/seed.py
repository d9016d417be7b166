"""Replace the shop's data with a deterministic dataset of a chosen scale."""

import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Model
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from catalog.models import Brand, Category, Product, ProductImage, Review, Tag
from customers.models import Customer
from orders.models import Order, OrderItem
from seeding.copy import (
    constraints_check,
    foreign_keys_add,
    foreign_keys_drop,
    indexes_create,
    indexes_drop,
    rows_copy,
    sequence_reset,
    tables_analyze,
    tables_truncate,
)
from seeding.images import placeholders_write
from seeding.report import SeedReport, TableReport
from seeding.rows import Row, ShopRows
from seeding.scales import Scale, scale_get

# Every seeded user, `admin` included, logs in with this password. Hashing it
# once, with a fixed salt, keeps the load fast and the rows identical per seed.
SEED_PASSWORD = "shop-password"
SEED_SALT = "seedshopsalt"
FINISHING = "indexes, keys, ANALYZE"


@dataclass(frozen=True)
class TableLoad:
    """One table to load: its model, the columns in row order, and the rows."""

    model: type[Model]
    columns: tuple[str, ...]
    rows: Callable[[], Iterable[Row]]
    count: int

    @property
    def table(self) -> str:
        """Return the database table name of the model."""
        return self.model._meta.db_table


class RateColumn(ProgressColumn):
    """Show a task's speed in rows per second."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:>12,.0f} rows/s", style="progress.data.speed")


def _loads(rows: ShopRows) -> list[TableLoad]:
    scale = rows.scale
    totals = array("q", [0]) * scale.orders
    user_columns = (
        "id", "password", "last_login", "is_superuser", "username", "first_name",
        "last_name", "email", "is_staff", "is_active", "date_joined",
    )  # fmt: skip
    product_columns = (
        "id", "name", "slug", "sku", "category_id", "brand_id", "price", "stock",
        "is_active", "description", "created_at", "updated_at",
    )  # fmt: skip
    review_columns = (
        "id", "product_id", "customer_id", "rating", "title", "body",
        "is_approved", "created_at",
    )  # fmt: skip
    named = ("id", "name", "slug")
    # Order items go before orders: each order's total is the sum of its
    # items, and the foreign keys are only added back once every table is full.
    return [
        TableLoad(get_user_model(), user_columns, rows.users, scale.customers + 1),
        TableLoad(
            Customer,
            ("id", "user_id", "phone", "city", "created_at"),
            rows.customers,
            scale.customers,
        ),
        TableLoad(Category, named, rows.categories, scale.categories),
        TableLoad(Brand, named, rows.brands, scale.brands),
        TableLoad(Tag, named, rows.tags, scale.tags),
        TableLoad(Product, product_columns, rows.products, scale.products),
        TableLoad(
            Product.tags.through,
            ("id", "product_id", "tag_id"),
            rows.product_tags,
            scale.products * scale.tags_per_product,
        ),
        TableLoad(
            ProductImage,
            ("id", "product_id", "image", "thumbnail", "position"),
            rows.product_images,
            scale.products * scale.images_per_product,
        ),
        TableLoad(Review, review_columns, rows.reviews, scale.reviews),
        TableLoad(
            OrderItem,
            ("id", "order_id", "product_id", "quantity", "unit_price"),
            lambda: rows.order_items(totals),
            scale.order_items,
        ),
        TableLoad(
            Order,
            ("id", "customer_id", "status", "created_at", "total"),
            lambda: rows.orders(totals),
            scale.orders,
        ),
    ]


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as bar:
        yield bar


def _progress_callback(
    bar: Progress | None, *, table: str, total: int
) -> Callable[[int], None]:
    if bar is None:
        return lambda rows: None
    task = bar.add_task(table, total=total)
    return lambda rows: bar.advance(task, rows)


def seed_shop(
    *, scale: str | Scale, seed: int = 0, progress: bool = True
) -> SeedReport:
    """Replace every shop table, users included, with the dataset for `seed`.

    `scale` names one of SCALES, or is a Scale of its own, for instance one
    made with dataclasses.replace() to compare two sizes of the same shape.
    """
    chosen = scale if isinstance(scale, Scale) else scale_get(name=scale)
    rows = ShopRows(
        scale=chosen,
        seed=seed,
        password_hash=make_password(SEED_PASSWORD, salt=SEED_SALT),
    )
    loads = _loads(rows)
    tables = [load.table for load in loads]
    report = SeedReport(scale=chosen.name, seed=seed)
    started = time.perf_counter()
    with (
        transaction.atomic(),
        connection.cursor() as wrapper,
        _progress(progress) as bar,
    ):
        cursor = wrapper.cursor
        constraints_check(cursor)
        tables_truncate(cursor, tables=tables)
        keys = foreign_keys_drop(cursor, tables=tables)
        indexes = indexes_drop(cursor, tables=tables)
        for load in loads:
            on_progress = _progress_callback(bar, table=load.table, total=load.count)
            load_started = time.perf_counter()
            written = rows_copy(
                cursor,
                table=load.table,
                columns=load.columns,
                rows=load.rows(),
                on_progress=on_progress,
            )
            sequence_reset(cursor, table=load.table)
            seconds = time.perf_counter() - load_started
            report.tables.append(TableReport(load.table, written, seconds))
        finished = _progress_callback(bar, table=FINISHING, total=1)
        finishing_started = time.perf_counter()
        indexes_create(cursor, definitions=indexes)
        foreign_keys_add(cursor, keys=keys)
        tables_analyze(cursor, tables=tables)
        finished(1)
        report.finishing_seconds = time.perf_counter() - finishing_started
    placeholders_write()
    report.seconds = time.perf_counter() - started
    return report
