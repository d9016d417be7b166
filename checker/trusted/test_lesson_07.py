"""Trusted tests of lesson 7: indexes, read from the plans PostgreSQL chose.

They drive the shop apart (`checker.harness`). The data is plan-sized
(`checker.trusted.plan_data`): made once per run by the trusted side in a
few statements, its foreign keys checked once per fill, then doubled, so a
budget can say whether the buffers a page touches grow with the table.
Every plan and every buffer count comes from PostgreSQL itself: each SELECT
the server received from the shop is run again under
`EXPLAIN (ANALYZE, BUFFERS)` as the run's own role
(`checker.trusted.explained`). Nothing here times a request.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from checker.harness.run import ShopRun
from checker.harness.shop import Page, Shop
from checker.trusted import expected, reading
from checker.trusted.explained import Explained, explain_received
from checker.trusted.plan_data import (
    Fill,
    PlanSizes,
    catalog_fill,
    orders_fill,
    plan_sizes,
)
from checker.trusted.reading import Row
from checker.trusted.staff import staff_make

PRODUCT_LIST = "/products/"
DASHBOARD = "/dashboard/sales/"
# The product list's page query and the dashboard's recent orders, told apart
# from the other statements of their page by what they sort on.
_PRODUCT_PAGE = re.compile(r'ORDER BY\s+"catalog_product"\."price"', re.I)
_RECENT_ORDERS = re.compile(r'ORDER BY\s+"orders_order"\."created_at"\s+DESC', re.I)
# With the page's rows read through indexes, the product list touches about
# 600 shared buffers, the same with twice the products; the naive page, and
# the page that joins every review before its LIMIT, touch thousands, and
# more for a bigger table.
PRODUCT_LIST_BUFFERS = 1_000
# Buffers a page may gain when its table doubles and still count as constant:
# a B-tree one level deeper, a count that reads a larger index.
GROWTH_SLACK = 1.25
GROWTH_BUFFERS = 60
# The twenty orders the dashboard lists, their customers, users and item
# counts: about 200 buffers through indexes.
RECENT_ORDERS_BUFFERS = 400
_SORT_INDEX_FIX = (
    "Add an index whose columns match the ORDER BY (price, then id) to "
    "Product.Meta.indexes, with condition=Q(is_active=True) as the page "
    "filters, and its migration: the page then reads its 100 rows in order "
    "instead of sorting the whole table."
)
_PRODUCT_BUFFERS_FIX = (
    "Read only the page's rows: an index for the ORDER BY, the review count "
    "and average computed per product with Subquery() rather than a GROUP BY "
    "over every review before the LIMIT, and an index on the approved reviews "
    "by product that includes the rating, so the figures come from the index."
)
_RECENT_FIX = (
    "Add an index on (created_at, id) in Order.Meta.indexes, newest first, and "
    "count each order's items with a Subquery() for the twenty orders shown "
    "rather than a GROUP BY over every order."
)
_CONCURRENTLY_FIX = (
    "Build it with django.contrib.postgres.operations.AddIndexConcurrently in a "
    "migration with atomic = False: a plain CREATE INDEX blocks every write to "
    "orders_order until it ends."
)


@dataclass
class Sized:
    """One page measured at both sizes: what it showed and what it touched."""

    sizes: tuple[PlanSizes, PlanSizes]
    pages: tuple[Page, Page]
    plans: tuple[list[Explained], list[Explained]]
    seconds: float
    # How each fill checked its rows' foreign keys (`Fill.keys`).
    keys: tuple[str, str]


def _measured(
    shop_run: ShopRun,
    connection: Any,
    fill: Callable[[PlanSizes], Fill],
    request: Callable[[Shop], Page],
) -> Sized:
    """Fill the emptied shop at the run's size, then twice it; measure each."""
    shop = shop_run.shop
    shop.reset()
    assert shop_run.database is not None
    role = shop_run.database.role
    first = plan_sizes(shop.seed)
    seconds = 0.0
    pages, plans, keys = [], [], []
    for size in (first, first.doubled()):
        filled = fill(size)
        seconds += filled.seconds
        keys.append(filled.keys)
        page = request(shop)
        assert page.status == 200, f"{page.measurement.label} answered {page.status}"
        pages.append(page)
        plans.append(explain_received(connection, role, page.measurement.queries))
    return Sized(
        (first, first.doubled()),
        (pages[0], pages[1]),
        (plans[0], plans[1]),
        seconds,
        (keys[0], keys[1]),
    )


@pytest.fixture(scope="module")
def product_list(shop_run: ShopRun) -> Iterator[Sized]:
    """Measure the product list on plan-sized catalogs, once for the module."""
    connection = shop_run.trusted_connection()
    try:
        yield _measured(
            shop_run,
            connection,
            lambda size: catalog_fill(
                connection, products=size.products, seed=shop_run.shop.seed
            ),
            lambda shop: shop.get(PRODUCT_LIST),
        )
    finally:
        connection.close()


@pytest.fixture(scope="module")
def dashboard(shop_run: ShopRun) -> Iterator[Sized]:
    """Measure the sales dashboard on plan-sized order tables, once."""
    connection = shop_run.trusted_connection()
    staff: list[str] = []

    def fill(size: PlanSizes) -> Fill:
        if not staff:
            staff.append(staff_make(shop_run.shop))
        return orders_fill(connection, orders=size.orders)

    try:
        yield _measured(
            shop_run,
            connection,
            fill,
            lambda shop: shop.get(DASHBOARD, user=staff[0]),
        )
    finally:
        connection.close()


def _one(plans: list[Explained], pattern: re.Pattern[str], label: str) -> Explained:
    found = [plan for plan in plans if pattern.search(plan.query.sql)]
    assert found, f"{label} sent no query like {pattern.pattern!r}"
    return found[0]


def _total(plans: list[Explained]) -> int:
    return sum(plan.buffers for plan in plans)


def _within(
    record_property: Any,
    noun: str,
    sizes: list[int],
    small: int,
    large: int,
    budget: int,
) -> bool:
    """Record the buffers at both sizes; tell whether they keep to `budget`."""
    record_property("buffers", [small, large])
    record_property(noun, sizes)
    return small <= budget and large <= small * GROWTH_SLACK + GROWTH_BUFFERS


def _heaviest(plans: list[Explained]) -> str:
    """Name the scan that touched the most buffers, its query and origin."""
    found = [(plan, plan.heaviest_scan()) for plan in plans]
    scans = [(plan, node) for plan, node in found if node is not None]
    if not scans:
        return ""
    plan, node = max(scans, key=lambda pair: pair[1].buffers)
    return (
        f" Most of them: {node} touched {node.buffers:,} buffers in "
        f"{plan.query.short}{plan.where}."
    )


def _sort_verdict(plan: Explained, label: str, column: str, fix: str) -> str:
    """Fail unless the query read its table in the order it asks for.

    Return how it read the table, for the results.
    """
    table, _, name = column.partition(".")
    sorts = plan.sorts_on(name)
    scans = plan.scans(table)
    seq = [node for node in scans if node.node_type == "Seq Scan"]
    steps = [str(node) for node in (seq or scans)[:1]]
    if sorts:
        steps.append(f"Sort by {', '.join(sorts[0].sort_key)}")
    read = ", then ".join(steps)
    if not sorts and not seq:
        return read
    raise AssertionError(
        f"{label}: {plan.query.short}{plan.where} ran {read} to return "
        f"{plan.rows:,} rows (budget: {table} read in the order of the ORDER BY "
        f"through an index, with no Sort on {name}). {fix}"
    )


def _record_sort_verdict(
    sized: Sized,
    record_property: Any,
    pattern: re.Pattern[str],
    label: str,
    column: str,
    fix: str,
) -> None:
    """Record how the data was built, then the page query's `_sort_verdict`."""
    record_property("plan_data_seconds", round(sized.seconds, 2))
    record_property("plan_data_keys", list(sized.keys))
    query = _one(sized.plans[1], pattern, label)
    record_property("plan", _sort_verdict(query, label, column, fix))


def _assert_same_rows(
    shop_run: ShopRun,
    label: str,
    shown: list[Row],
    rows_expected: Callable[[Any], list[Row]],
) -> None:
    """Fail unless the page showed the rows the run's database holds, in UTC."""
    connection = shop_run.trusted_connection()
    try:
        connection.execute("SET TIME ZONE 'UTC'")
        reading.assert_same(label, shown, rows_expected(connection))
    finally:
        connection.close()


@pytest.mark.exercise("07-product-list", budget="sort-index")
def test_the_product_list_reads_its_page_in_price_order_from_an_index(
    product_list: Sized, record_property: Any
) -> None:
    _record_sort_verdict(
        product_list,
        record_property,
        _PRODUCT_PAGE,
        f"GET {PRODUCT_LIST}",
        "catalog_product.price",
        _SORT_INDEX_FIX,
    )


@pytest.mark.exercise("07-product-list", budget="buffers")
def test_the_product_list_touches_a_few_buffers_whatever_the_catalog(
    product_list: Sized, record_property: Any
) -> None:
    small, large = (_total(plans) for plans in product_list.plans)
    sizes = [size.products for size in product_list.sizes]
    if _within(record_property, "products", sizes, small, large, PRODUCT_LIST_BUFFERS):
        return
    raise AssertionError(
        f"GET {PRODUCT_LIST} touched {small:,} shared buffers with {sizes[0]:,} "
        f"products and {large:,} with {sizes[1]:,} (budget: at most "
        f"{PRODUCT_LIST_BUFFERS:,}, the same for both)."
        f"{_heaviest(product_list.plans[1])} {_PRODUCT_BUFFERS_FIX}"
    )


@pytest.mark.exercise("07-product-list", budget="same-output")
def test_the_product_list_shows_the_same_rows_on_a_large_catalog(
    product_list: Sized, shop_run: ShopRun
) -> None:
    _assert_same_rows(
        shop_run,
        f"GET {PRODUCT_LIST}",
        reading.product_list_rows(product_list.pages[1].text),
        expected.product_list_rows_expected,
    )


@pytest.mark.exercise("07-recent-orders", budget="index")
def test_the_dashboard_reads_the_newest_orders_from_an_index(
    dashboard: Sized, record_property: Any
) -> None:
    _record_sort_verdict(
        dashboard,
        record_property,
        _RECENT_ORDERS,
        f"GET {DASHBOARD}",
        "orders_order.created_at",
        _RECENT_FIX,
    )


@pytest.mark.exercise("07-recent-orders", budget="buffers")
def test_the_newest_orders_touch_a_few_buffers_whatever_the_orders(
    dashboard: Sized, record_property: Any
) -> None:
    small, large = (
        _one(plans, _RECENT_ORDERS, f"GET {DASHBOARD}") for plans in dashboard.plans
    )
    sizes = [size.orders for size in dashboard.sizes]
    if _within(
        record_property,
        "orders",
        sizes,
        small.buffers,
        large.buffers,
        RECENT_ORDERS_BUFFERS,
    ):
        return
    node = large.heaviest_scan()
    most = f" Most of them: {node} touched {node.buffers:,}." if node else ""
    raise AssertionError(
        f"GET {DASHBOARD}: {large.query.short}{large.where} touched "
        f"{small.buffers:,} shared buffers with {sizes[0]:,} orders and "
        f"{large.buffers:,} with {sizes[1]:,} (budget: at most "
        f"{RECENT_ORDERS_BUFFERS}, the same for both).{most} {_RECENT_FIX}"
    )


@pytest.mark.exercise("07-recent-orders", budget="concurrently")
def test_the_orders_index_is_built_concurrently(
    dashboard: Sized, shop_run: ShopRun
) -> None:
    query = _one(dashboard.plans[1], _RECENT_ORDERS, f"GET {DASHBOARD}")
    indexes = [
        node.index for node in query.scans("orders_order") if node.index is not None
    ]
    migrations = Path(shop_run.plan.root) / "shop_app" / "orders" / "migrations"
    used = [name for name in indexes if not name.endswith("_pkey")]
    if not used:
        raise AssertionError(
            f"GET {DASHBOARD}: {query.query.short}{query.where} reads orders_order "
            "through no index of its own, so none is built concurrently (budget: "
            f"the index is built with AddIndexConcurrently). {_RECENT_FIX} "
            f"{_CONCURRENTLY_FIX}"
        )
    problem = _migration_problem(migrations, used[0])
    if problem:
        raise AssertionError(
            f"{problem} (budget: the index is built with AddIndexConcurrently). "
            f"{_CONCURRENTLY_FIX}"
        )


@pytest.mark.exercise("07-recent-orders", budget="same-output")
def test_the_dashboard_lists_the_same_newest_orders(
    dashboard: Sized, shop_run: ShopRun
) -> None:
    _assert_same_rows(
        shop_run,
        f"GET {DASHBOARD}",
        reading.recent_order_rows(dashboard.pages[1].text),
        expected.recent_order_rows_expected,
    )


def _migration_problem(folder: Path, index: str) -> str:
    """Say what is wrong with the migration that creates `index`, or ''.

    The files are read as text and parsed, never imported: the trusted side
    runs none of the submission's code.
    """
    for path in sorted(folder.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue
        where = f"shop_app/orders/migrations/{path.name}"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not _names(node, index):
                continue
            operation = _called(node)
            if operation == "Index":
                continue
            if operation != "AddIndexConcurrently":
                return (
                    f"{where}:{node.lineno} builds {index} with {operation}, in "
                    "a transaction that blocks writes to orders_order until it ends"
                )
            if not _non_atomic(tree):
                return (
                    f"{where}:{node.lineno} builds {index} with "
                    "AddIndexConcurrently, but its Migration does not set "
                    "atomic = False, and PostgreSQL refuses CREATE INDEX "
                    "CONCURRENTLY inside a transaction"
                )
            return ""
    return (
        f"{index} is made by no operation of shop_app/orders/migrations/ that "
        "names it (db_index=True makes it with AlterField, in a transaction)"
    )


def _names(call: ast.Call, index: str) -> bool:
    """Tell whether `call`, or an Index() inside it, has name=`index`."""
    for inner in ast.walk(call):
        if isinstance(inner, ast.keyword) and inner.arg == "name":
            value = inner.value
            if isinstance(value, ast.Constant) and value.value == index:
                return True
    return False


def _called(call: ast.Call) -> str:
    function = call.func
    if isinstance(function, ast.Attribute):
        return function.attr
    if isinstance(function, ast.Name):
        return function.id
    return "an operation"


def _non_atomic(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and any(
                        isinstance(target, ast.Name) and target.id == "atomic"
                        for target in statement.targets
                    )
                    and isinstance(statement.value, ast.Constant)
                    and statement.value.value is False
                ):
                    return True
    return False
