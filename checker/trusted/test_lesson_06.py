"""Trusted tests of lesson 6: pagination, cursors and lean list serializers.

They drive the shop apart (`checker.harness`): data is built inside the shop,
queries are read from what PostgreSQL received, a page's cost from
PostgreSQL's own `EXPLAIN (ANALYZE, BUFFERS)` of the statements the shop
sent, and expected fields are computed here from the run's database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from psycopg.sql import SQL, Identifier

from checker import sql
from checker.budgets import assert_within, queries_constant
from checker.harness.run import ShopRun
from checker.harness.shop import Page, Shop
from checker.measure import Measurement
from checker.plans import plan_nodes
from checker.trusted import api_expected
from checker.trusted.explained import node_buffers, plan_sent, read_only_as
from checker.trusted.staff import staff_growth, staff_make

# No response of a list may carry more items than this, whatever it asks for.
MAX_ITEMS = 100
# What a client asks for when it wants everything at once.
GREEDY = "?page_size=1000&limit=1000"
# More rows than any one response may carry.
BOUNDED_ROWS = 130
# Orders a syncing client walks, and how many arrive after each page it reads.
WALK_ORDERS = 120
ARRIVING = 3
# Enough pages for any page size; a walk longer than this loops.
MAX_PAGES = 60
# A deep page must cost what the first one does: its read of orders_order
# produces at most this many rows under its LIMIT, whatever the depth (the
# largest page and its look-ahead row, twice over). An OFFSET produces and
# throws away every row before the page.
DEEP_ORDERS = 500
DEEP_ROWS_READ = 2 * MAX_ITEMS
# What one item of a lean list may weigh in the response, in bytes.
PRODUCT_BYTES = 600
ORDER_BYTES = 300
BYTES_PRODUCTS = 20
BYTES_ORDERS = 20


WALK_FIX = (
    f" {ARRIVING} new orders arrived after each page: page numbers and offsets"
    " shift under a client as rows arrive. Use CursorPagination ordered by an"
    ' indexed column, such as "-id", on the orders\' viewset in'
    " shop_app/orders/api.py."
)


@dataclass
class Step:
    """One response of a walk along `next` links."""

    path: str
    page: Page
    items: list[dict[str, Any]]
    next: str | None


def _items(page: Page, label: str) -> tuple[list[dict[str, Any]], str | None]:
    """Return the items of a list response and the path of its next page."""
    if page.status != 200:
        raise AssertionError(f"{label} answered {page.status}: {page.text[:200]}")
    data = json.loads(page.content)
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        following = data.get("next")
        if not following:
            return data["results"], None
        link = urlsplit(str(following))
        return data["results"], f"{link.path}?{link.query}"
    raise AssertionError(
        f"{label} answered neither a list nor a page with results: {page.text[:200]}"
    )


def _walk(
    shop: Shop,
    path: str,
    *,
    user: str | None = None,
    between: Callable[[], object] | None = None,
) -> Iterator[Step]:
    """Follow `next` links from `path`; call `between()` after each page."""
    current: str | None = path
    for _ in range(MAX_PAGES):
        if current is None:
            return
        page = shop.get(current, user=user)
        items, following = _items(page, f"GET {current}")
        yield Step(current, page, items, following)
        if between is not None and following is not None:
            between()
        current = following
    raise AssertionError(f"GET {path}: {MAX_PAGES} pages of next links never ended")


def _rows_from(measurement: Measurement, table: str) -> str:
    """Name the first statement reading `table`, and where the shop ran it."""
    for query in measurement.statements:
        counts = "COUNT(" in query.sql.upper()
        if f'FROM "{table}"' in query.sql and query.origin and not counts:
            return f" The rows come from {query.short} — from {query.origin}."
    return ""


def _bounded(step: Step, noun: str, table: str) -> None:
    count = len(step.items)
    if count > MAX_ITEMS:
        source = _rows_from(step.page.measurement, table)
        raise AssertionError(
            f"GET {step.path} returned {count} {noun} in one response (budget: at "
            f"most {MAX_ITEMS}, whatever the client asks).{source}"
            " Set a DEFAULT_PAGINATION_CLASS and a PAGE_SIZE in REST_FRAMEWORK, on a"
            " pagination class whose max_page_size (or max_limit) the client cannot"
            " lift."
        )


def _once_each(
    path: str, noun: str, seen: list[Any], wanted: list[Any], *, fix: str = ""
) -> None:
    twice = sorted({pk for pk in seen if seen.count(pk) > 1})
    missed = sorted(set(wanted) - set(seen))
    if twice or missed:
        raise AssertionError(
            f"A client following next links from GET {path} saw "
            f"{len(twice)} {noun} twice (ids {twice[:5]}) and missed "
            f"{len(missed)} (ids {missed[:5]}) of the {len(wanted)} it should see "
            f"once each.{fix}"
        )


@pytest.mark.exercise("06-pagination", budget="bounded")
def test_every_list_response_is_bounded_whatever_the_client_asks(
    shop: Shop, trusted_sql: Any
) -> None:
    staff = staff_make(shop)
    shop.build(
        "bulk_order_items",
        orders=BOUNDED_ROWS,
        items=BOUNDED_ROWS,
        products=BOUNDED_ROWS,
    )

    for path, noun, table in (
        ("/api/products/", "products", "catalog_product"),
        ("/api/orders/", "orders", "orders_order"),
    ):
        seen = []
        for step in _walk(shop, path + GREEDY, user=staff):
            _bounded(step, noun, table)
            seen += [item.get("id") for item in step.items]
        _once_each(path + GREEDY, noun, seen, api_expected.ids(trusted_sql, table))


@pytest.mark.exercise("06-pagination", budget="walk")
def test_a_client_walking_the_orders_sees_each_once_while_orders_arrive(
    shop: Shop, trusted_sql: Any
) -> None:
    staff = staff_make(shop)
    [customer] = shop.build("customers_make", count=1)
    shop.build("orders_make", orders=WALK_ORDERS, items_per_order=1)
    wanted = api_expected.ids(trusted_sql, "orders_order")

    def arrive() -> None:
        shop.build("orders_make", orders=ARRIVING, customers=[customer])

    seen = []
    for step in _walk(shop, "/api/orders/", user=staff, between=arrive):
        _bounded(step, "orders", "orders_order")
        seen += [item.get("id") for item in step.items if item.get("id") in wanted]

    _once_each("/api/orders/", "orders", seen, wanted, fix=WALK_FIX)


@pytest.mark.exercise("06-pagination", budget="deep-page")
def test_a_deep_page_of_orders_costs_what_the_first_one_does(
    shop: Shop, shop_run: ShopRun, trusted_sql: Any, record_property: Any
) -> None:
    staff = staff_make(shop)
    shop.build("bulk_order_items", orders=DEEP_ORDERS, items=DEEP_ORDERS, products=3)
    assert shop_run.database is not None
    role = shop_run.database.role
    _analyze(trusted_sql, role)

    steps = list(_walk(shop, "/api/orders/", user=staff))

    for step in steps:
        counted = [
            q
            for q in step.page.measurement.statements
            if "COUNT(" in q.sql.upper() and 'FROM "orders_order"' in q.sql
        ]
        if counted and len(steps) > 1:
            where = f" — from {counted[0].origin}" if counted[0].origin else ""
            raise AssertionError(
                f"GET {step.path} ran {counted[0].short}{where} on every page "
                f"(budget: no COUNT(*) of orders_order on the orders' pages): a "
                "page-number or limit/offset page counts the whole table each "
                "time. Use CursorPagination ordered by an indexed column, such "
                'as "-id".'
            )
    costs = [(step, _page_cost(trusted_sql, role, step)) for step in steps]
    record_property("rows_read", [cost.rows for _, cost in costs])
    step, worst = max(costs, key=lambda found: found[1].rows)
    first = costs[0][1]
    if worst.rows > DEEP_ROWS_READ:
        raise AssertionError(
            f"GET {step.path} made PostgreSQL produce {worst.rows} orders to "
            f"return {len(step.items)} ({worst.plan}; {worst.buffers} shared "
            f"buffers, against {first.buffers} for the first page) (budget: at "
            f"most {DEEP_ROWS_READ} rows produced for any page, whatever its "
            "depth)."
            f"{_rows_from(step.page.measurement, 'orders_order')} A list without "
            "pages reads the whole table, and an OFFSET reads and throws away "
            "every row before its page; use CursorPagination "
            'ordered by an indexed column, such as "-id".'
        )


@dataclass(frozen=True)
class Cost:
    """What PostgreSQL did for one page's read of orders_order."""

    rows: int
    buffers: int
    plan: str


def _analyze(trusted_sql: Any, role: str) -> None:
    """Give the planner fresh statistics of the run's tables, as its own role.

    Rows just built have none yet, and a plan made on guesses says nothing
    about the one a live table gets.
    """
    trusted_sql.execute(SQL("SET ROLE {}").format(Identifier(role)))
    try:
        trusted_sql.execute("ANALYZE")
    finally:
        trusted_sql.execute("RESET ROLE")


def _page_cost(trusted_sql: Any, role: str, step: Step) -> Cost:
    """Explain each read of orders_order a page made again, as the run's role.

    Rows read are what every scan of the table returned and what its filters
    threw away, times its loops; buffers are the plan's shared blocks.
    """
    rows, buffers, plans = 0, 0, []
    for query in step.page.measurement.statements:
        if not sql.is_select(query.sql) or 'FROM "orders_order"' not in query.sql:
            continue
        with read_only_as(trusted_sql, role):
            plan = plan_sent(trusted_sql, query)
        if plan is None:
            continue
        buffers += node_buffers(plan)
        rows += _produced(plan)
        plans += [
            node["Node Type"]
            + (f" using {node['Index Name']}" if node.get("Index Name") else "")
            for node in plan_nodes(plan)
            if node.get("Relation Name") == "orders_order"
        ]
    return Cost(rows, buffers, ", ".join(plans) or "no scan of orders_order")


def _produced(plan: dict[str, Any]) -> int:
    """Return the rows made for a page before its LIMIT kept some of them.

    Whatever the joins and scans below, the node under the Limit produced
    every row the page skipped (its OFFSET) and every row it kept; a query
    with no LIMIT produced all the rows it sent.
    """
    for node in plan_nodes(plan):
        if node["Node Type"] == "Limit" and node.get("Plans"):
            child = node["Plans"][0]
            return int(child.get("Actual Rows", 0) * child.get("Actual Loops", 1))
    return int(plan.get("Actual Rows", 0))


@pytest.mark.exercise("06-lean-lists", budget="product-queries")
def test_product_list_runs_a_constant_number_of_queries(
    shop: Shop, trusted_sql: Any
) -> None:
    growth = shop.grow(
        lambda n: shop.build("catalog_make", products=n),
        lambda: shop.get("/api/products/"),
        noun="products",
        label="GET /api/products/",
        rows="catalog_product WHERE is_active",
        verify=lambda page: _product_list_same(page, trusted_sql),
    )

    assert_within(growth, queries_constant("products"))


@pytest.mark.exercise("06-lean-lists", budget="order-queries")
def test_order_list_runs_a_constant_number_of_queries(
    shop: Shop, trusted_sql: Any
) -> None:
    growth = staff_growth(
        shop,
        "/api/orders/",
        "orders",
        lambda n: shop.build("orders_make", orders=n),
        "orders_order",
        lambda page: _order_list_same(page, trusted_sql),
    )

    assert_within(growth, queries_constant("orders"))


@pytest.mark.exercise("06-lean-lists", budget="bytes")
def test_list_responses_stay_within_their_bytes_per_item(
    shop: Shop, record_property: Any
) -> None:
    staff = staff_make(shop)
    shop.build("catalog_make", products=BYTES_PRODUCTS)
    shop.build("orders_make", orders=BYTES_ORDERS)

    for path, noun, table, budget in (
        ("/api/products/", "product", "catalog_product", PRODUCT_BYTES),
        ("/api/orders/", "order", "orders_order", ORDER_BYTES),
    ):
        page = shop.get(path, user=staff)
        items, _ = _items(page, f"GET {path}")
        if not items:
            raise AssertionError(f"GET {path} listed no {noun}s")
        each = len(page.content) // len(items)
        record_property(f"bytes_per_{noun}", each)
        if each > budget:
            heaviest = _heaviest_fields(items)
            raise AssertionError(
                f"GET {path} sent {len(page.content):,} bytes for {len(items)} "
                f"{noun}s: {each:,} bytes per {noun} (budget: at most {budget:,}). "
                f"The heaviest fields per {noun}: {heaviest}."
                f"{_rows_from(page.measurement, table)} Give the list action a "
                "lean serializer of its own (get_serializer_class()), without the "
                "nested relations and long texts that the detail keeps."
            )


def _heaviest_fields(items: list[dict[str, Any]]) -> str:
    sizes = {
        key: sum(len(json.dumps(item.get(key))) for item in items) // len(items)
        for key in items[0]
    }
    ranked = sorted(sizes.items(), key=lambda pair: -pair[1])[:3]
    return ", ".join(f"{key} ({size:,} bytes)" for key, size in ranked)


@pytest.mark.exercise("06-lean-lists", budget="same-output")
def test_lists_keep_their_figures_and_details_stay_field_for_field(
    shop: Shop, trusted_sql: Any
) -> None:
    staff = staff_make(shop)
    products = shop.build("catalog_make", products=7, inactive=2)
    shop.build("catalog_make", products=2, reviews_per_product=0)
    orders = shop.build("orders_make", orders=5)

    _product_list_same(shop.get("/api/products/"), trusted_sql)
    _order_list_same(shop.get("/api/orders/", user=staff), trusted_sql)
    for product in products[:3]:
        path = f"/api/products/{product['slug']}/"
        api_expected.assert_fields(
            f"GET {path}",
            json.loads(shop.get(path).content),
            api_expected.product_detail(trusted_sql, product["pk"]),
        )
    for order in orders[:3]:
        path = f"/api/orders/{order['pk']}/"
        api_expected.assert_fields(
            f"GET {path}",
            json.loads(shop.get(path, user=staff).content),
            api_expected.order_detail(trusted_sql, order["pk"]),
        )


def _product_list_same(page: Page, connection: Any) -> None:
    items, _ = _items(page, "GET /api/products/")
    api_expected.assert_list(
        "GET /api/products/", items, api_expected.product_list(connection, len(items))
    )


def _order_list_same(page: Page, connection: Any) -> None:
    items, _ = _items(page, "GET /api/orders/")
    api_expected.assert_list(
        "GET /api/orders/", items, api_expected.order_list(connection, len(items))
    )
