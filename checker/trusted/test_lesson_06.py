"""Trusted tests of lesson 6: pagination, cursors and lean list serializers.

They drive the shop apart (`checker.harness`): data is built inside the shop,
but for the deep page, whose thousands of orders the trusted side makes
itself (`checker.trusted.plan_data`); queries are read from what PostgreSQL
received, a page's cost from PostgreSQL's own `EXPLAIN (ANALYZE, BUFFERS)`
of the statements the shop sent, and expected fields are computed here from
the run's database.
"""

from __future__ import annotations

import json
import random
import re
from base64 import b64encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

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
from checker.trusted.plan_data import orders_fill
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
# A deep page must cost what the first one does: the shared buffers its reads
# of orders_order touch, in PostgreSQL's own EXPLAIN (ANALYZE, BUFFERS), are
# measured on the first page and on one this many orders down, with at least
# `DEEP_ORDERS` orders (a few more drawn from the run's seed) and with twice
# as many. Through an index a page touches a few buffers; an OFFSET reads
# every row before its page, and a list without pages the whole table.
DEEP_ORDERS = 4_000
DEEP_DRAWN = 400
DEEP_DEPTH = 3_500
DEEP_BUFFERS = 600
# Buffers a page may gain, deeper or on a table twice as large, and still
# count as constant: a B-tree one level deeper, a page's rows on one more
# heap page.
GROWTH_SLACK = 1.25
GROWTH_BUFFERS = 10
# The sort of the page's query: a cursor's position is a value of its column.
_ORDERED_BY = re.compile(
    r'ORDER BY\s+"orders_order"\."(?P<column>\w+)"(?:\s+(?P<direction>ASC|DESC))?',
    re.I,
)
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
    assert shop_run.database is not None
    role = shop_run.database.role
    seconds = orders_fill(trusted_sql, orders=BOUNDED_ROWS, items=0).seconds
    first = next(_walk(shop, "/api/orders/", user=staff))
    paged = first.next is not None
    size = _deep_orders(shop.seed)
    pages: list[Priced] = []
    for orders in (size, size * 2):
        seconds += orders_fill(trusted_sql, orders=orders, items=0).seconds
        if paged:
            first = next(_walk(shop, "/api/orders/", user=staff))
            deep = _deep_step(shop, trusted_sql, first, staff)
            _no_count([first, deep])
            _assert_moved(first, deep)
            pages += [
                _priced(trusted_sql, role, first, orders, 0),
                _priced(trusted_sql, role, deep, orders, deep.depth),
            ]
        else:
            # Every request reads the whole table: its statement, run again
            # on the grown table, costs what the request would, without
            # serializing thousands of orders.
            pages.append(_priced(trusted_sql, role, first, orders, 0))
    record_property("buffers", [page.cost.buffers for page in pages])
    record_property("rows_read", [page.cost.rows for page in pages])
    record_property("depths", [page.depth for page in pages])
    record_property("plan_data_seconds", round(seconds, 2))
    verdict = _deep_verdict(pages, paged=paged)
    if verdict:
        raise AssertionError(
            f"{verdict}{_rows_from(first.page.measurement, 'orders_order')} A list "
            "without pages reads the whole table, and an OFFSET reads and throws "
            "away every row before its page; use CursorPagination ordered by an "
            'indexed column, such as "-id".'
        )


def _deep_orders(seed: int) -> int:
    """Draw, from the run's seed, how many orders the deep page is measured on."""
    return DEEP_ORDERS + random.Random(seed).randrange(DEEP_DRAWN)


@dataclass(frozen=True)
class Cost:
    """What PostgreSQL did for one page's read of orders_order."""

    rows: int
    buffers: int
    plan: str


@dataclass(frozen=True)
class Priced:
    """One page, how many orders the table held and lay before it, its cost."""

    step: Step
    orders: int
    depth: int
    cost: Cost

    def __str__(self) -> str:
        where = "the first page" if not self.depth else f"a page {self.depth:,} deep"
        if self.step.next is None and not self.depth:
            where = "the whole list"
        return (
            f"{self.cost.buffers:,} shared buffers for {where} of {self.orders:,} "
            f"orders ({self.cost.plan}, {self.cost.rows:,} rows produced)"
        )


@dataclass
class DeepStep(Step):
    """A page reached far down the list, and how many orders lie before it."""

    depth: int = 0


def _priced(trusted_sql: Any, role: str, step: Step, orders: int, depth: int) -> Priced:
    return Priced(step, orders, depth, _page_cost(trusted_sql, role, step))


def _no_count(steps: list[Step]) -> None:
    """Fail when a page counts the whole orders table."""
    for step in steps:
        counted = [
            q
            for q in step.page.measurement.statements
            if "COUNT(" in q.sql.upper() and 'FROM "orders_order"' in q.sql
        ]
        if counted:
            where = f" — from {counted[0].origin}" if counted[0].origin else ""
            raise AssertionError(
                f"GET {step.path} ran {counted[0].short}{where} on every page "
                f"(budget: no COUNT(*) of orders_order on the orders' pages): a "
                "page-number or limit/offset page counts the whole table each "
                "time. Use CursorPagination ordered by an indexed column, such "
                'as "-id".'
            )


def _deep_verdict(pages: list[Priced], *, paged: bool) -> str:
    """Say how the pages' buffers broke the budget, or return ''."""
    budget = (
        f"(budget: at most {DEEP_BUFFERS:,} shared buffers for any page, and as "
        f"many {DEEP_DEPTH:,} orders deep as on the first page, with "
        f"{pages[0].orders:,} orders and with twice as many)."
    )
    if not paged:
        small, large = pages
        return (
            f"GET /api/orders/ sent all {len(small.step.items):,} orders in one "
            f"response: its read of orders_order, run again, touched {small} and "
            f"{large} {budget}"
        )
    within = [(page, page.cost.buffers <= DEEP_BUFFERS) for page in pages]
    comparisons = [
        # The deep page against the first, at each size, then each page of
        # the doubled table against the same page of the first.
        (pages[0], pages[1]),
        (pages[2], pages[3]),
        (pages[0], pages[2]),
        (pages[1], pages[3]),
    ]
    for page, fits in within:
        if not fits:
            return f"GET {page.step.path} touched {page} {budget}"
    for cheap, dear in comparisons:
        if dear.cost.buffers > cheap.cost.buffers * GROWTH_SLACK + GROWTH_BUFFERS:
            return f"GET {dear.step.path} touched {dear}, against {cheap} {budget}"
    return ""


def _deep_step(shop: Shop, trusted_sql: Any, first: Step, user: str) -> DeepStep:
    """Return the page `DEEP_DEPTH` orders down the list that `first` begins.

    The first page's next link is moved there as a client paging through
    would find it: an offset or a page number set to the depth, a cursor
    (Django REST framework's) set to the position of the order at that depth
    in the order the page's query sorts by. A link of any other kind is
    followed page by page, as far as `MAX_PAGES` allows.
    """
    assert first.next is not None
    link = urlsplit(first.next)
    query = parse_qs(link.query, keep_blank_values=True)
    per_page = max(len(first.items), 1)
    moved: dict[str, list[str]] | None = None
    depth = DEEP_DEPTH
    if "offset" in query:
        moved = {**query, "offset": [str(depth)]}
    elif "page" in query:
        moved = {**query, "page": [str(depth // per_page + 1)]}
        depth = depth // per_page * per_page
    elif "cursor" in query:
        position = _position_at(trusted_sql, first, depth)
        if position is not None:
            cursor = b64encode(urlencode({"p": position}).encode()).decode()
            moved = {**query, "cursor": [cursor]}
    if moved is not None:
        path = f"{link.path}?{urlencode(moved, doseq=True)}"
        page = shop.get(path, user=user)
        items, following = _items(page, f"GET {path}")
        return DeepStep(path, page, items, following, depth=depth)
    walked = 0
    for step in _walk(shop, first.path, user=user):
        if walked >= DEEP_DEPTH or step.next is None:
            return DeepStep(step.path, step.page, step.items, step.next, depth=walked)
        walked += len(step.items)
    raise AssertionError(f"GET {first.path}: no page {DEEP_DEPTH:,} orders deep")


def _assert_moved(first: Step, deep: DeepStep) -> None:
    """Fail unless the deep page holds orders, none of them the first page's."""
    shown = {item.get("id") for item in first.items}
    if not deep.items or shown & {item.get("id") for item in deep.items}:
        raise AssertionError(
            f"GET {deep.path}, the page {deep.depth:,} orders down from GET "
            f"{first.path}, answered {len(deep.items)} orders, "
            f"{len(shown & {item.get('id') for item in deep.items})} of them on "
            "the first page: its next link must lead on through the orders."
        )


def _position_at(trusted_sql: Any, first: Step, depth: int) -> str | None:
    """Return, as a cursor holds it, the sort key of the order `depth` rows down.

    The key is the first column the page's query orders orders_order by; the
    cursor's page starts right after the order that holds it.
    """
    for query in first.page.measurement.statements:
        found = _ORDERED_BY.search(query.sql)
        if found and 'FROM "orders_order"' in query.sql:
            column, direction = found["column"], (found["direction"] or "ASC")
            row = trusted_sql.execute(
                SQL(
                    "SELECT {} FROM orders_order ORDER BY 1 {} OFFSET %s LIMIT 1"
                ).format(
                    Identifier(column),
                    SQL("DESC" if direction.upper() == "DESC" else "ASC"),
                ),
                [depth - 1],
            ).fetchone()
            return None if row is None else str(row[0])
    return None


def _page_cost(trusted_sql: Any, role: str, step: Step) -> Cost:
    """Explain each read of orders_order a page made again, as the run's role.

    Rows read are what every scan of the table returned and what its filters
    threw away, times its loops; buffers are the shared blocks of its scans
    of orders_order alone: how a page joins each order's customer and user
    (one index lookup a row, or one pass over a small table) is the
    planner's choice, and may differ between two sizes of the same page.
    """
    rows, buffers, plans = 0, 0, []
    for query in step.page.measurement.statements:
        if not sql.is_select(query.sql) or 'FROM "orders_order"' not in query.sql:
            continue
        with read_only_as(trusted_sql, role):
            plan = plan_sent(trusted_sql, query)
        if plan is None:
            continue
        scans = [
            n for n in plan_nodes(plan) if n.get("Relation Name") == "orders_order"
        ]
        buffers += sum(node_buffers(node) for node in scans)
        rows += _produced(plan)
        plans += [
            node["Node Type"]
            + (f" using {node['Index Name']}" if node.get("Index Name") else "")
            for node in scans
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
