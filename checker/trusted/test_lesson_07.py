"""Trusted tests of lesson 7: indexes, read from the plans PostgreSQL chose.

They drive the shop apart (`checker.harness`). The data is plan-sized
(`checker.trusted.plan_data`): made once per run by the trusted side in a
few statements, its foreign keys checked once per fill, then doubled, so a
budget can say whether the buffers a page touches grow with the table.
Every plan and every buffer count comes from PostgreSQL itself: each SELECT
the server received from the shop is run again under
`EXPLAIN (ANALYZE, BUFFERS)` as the run's own role
(`checker.trusted.explained`), which indexes exist is read from the
catalog (`pg_index`), and how the orders' indexes were built from the
statements PostgreSQL received while the checker ran the shop's migrations
(`checker.trusted.indexes`). Nothing here times a request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from checker.harness.run import ShopRun
from checker.harness.shop import Page, Shop
from checker.trusted import expected, reading
from checker.trusted.explained import Explained, explain_received
from checker.trusted.indexes import index_builds, table_indexes
from checker.trusted.plan_data import (
    ITEMS_PER_ORDER,
    Fill,
    PlanSizes,
    catalog_fill,
    orders_fill,
    plan_sizes,
    search_terms,
)
from checker.trusted.reading import Row
from checker.trusted.staff import staff_make

PRODUCT_LIST = "/products/"
# The products whose name holds a term, on the product list's own page.
SEARCH = PRODUCT_LIST + "?"
DASHBOARD = "/dashboard/sales/"
# A customer's own orders, newest first.
HISTORY = "/account/orders/"
# The customer whose history is requested: one of many, with a few orders
# among everyone's, as most customers of a shop have.
HISTORY_USER = "plan-history-customer"
HISTORY_ORDERS = 5
# The large tables of lesson 7: an index built on them without CONCURRENTLY
# blocks the shop's orders while it builds.
LARGE_TABLES = ("orders_order", "orders_orderitem")
# The product list's page query and the dashboard's recent orders, told apart
# from the other statements of their page by what they sort on.
_PRODUCT_PAGE = re.compile(r'ORDER BY\s+"catalog_product"\."price"', re.I)
_RECENT_ORDERS = re.compile(r'ORDER BY\s+"orders_order"\."created_at"\s+DESC', re.I)
# The history page's lookups of one customer's orders.
_BY_CUSTOMER = re.compile(r'"orders_order"\."customer_id"\s*=', re.I)
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
# The search's count and page through a trigram index: about 50 buffers for
# its one product, its reviews and figures; reading the whole table touches
# over a thousand.
SEARCH_BUFFERS = 150
# Operator classes of pg_trgm: an index built with one finds '%term%'.
TRIGRAM_OPCLASSES = ("gin_trgm_ops", "gist_trgm_ops")
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
_TRIGRAM_FIX = (
    "A B-tree orders whole values from their first character and cannot find "
    "one by a piece from its middle; a GIN index of pg_trgm's three-letter "
    "pieces can. name__icontains compares UPPER(name), and an index serves "
    'only the expression it is built on: add GinIndex(OpClass(Upper("name"), '
    'name="gin_trgm_ops"), name=...) to Product.Meta.indexes, in a migration '
    "that runs TrigramExtension() first."
)
_CONCURRENTLY_FIX = (
    "Build each index of orders_order and orders_orderitem with "
    "django.contrib.postgres.operations.AddIndexConcurrently, in a migration "
    "with atomic = False: a plain CREATE INDEX blocks every write to the table "
    "until it ends, and PostgreSQL refuses CREATE INDEX CONCURRENTLY inside a "
    "transaction."
)
_REDUNDANT_FIX = (
    "Add an index on (customer, -created_at, -id) to Order.Meta.indexes, for a "
    "customer's orders newest first, and set db_index=False on Order.customer: "
    "the new index's first column serves every lookup by customer the foreign "
    "key's own index did (this page, and the check that PROTECT makes before a "
    "customer is deleted), so that one only costs writes and disk."
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
    requests: Sequence[Callable[[Shop], Page]],
) -> list[Sized]:
    """Fill the emptied shop at the run's size, then twice it; measure each page."""
    shop = shop_run.shop
    shop.reset()
    assert shop_run.database is not None
    role = shop_run.database.role
    first = plan_sizes(shop.seed)
    seconds = 0.0
    keys = []
    pages: list[list[Page]] = [[] for _ in requests]
    plans: list[list[list[Explained]]] = [[] for _ in requests]
    for size in (first, first.doubled()):
        filled = fill(size)
        seconds += filled.seconds
        keys.append(filled.keys)
        for position, request in enumerate(requests):
            page = request(shop)
            label = page.measurement.label
            assert page.status == 200, f"{label} answered {page.status}"
            pages[position].append(page)
            queries = page.measurement.queries
            plans[position].append(explain_received(connection, role, queries))
    return [
        Sized(
            (first, first.doubled()),
            (shown[0], shown[1]),
            (explained[0], explained[1]),
            seconds,
            (keys[0], keys[1]),
        )
        for shown, explained in zip(pages, plans, strict=True)
    ]


@dataclass
class Catalog:
    """The product list and a search on it, measured on the same catalogs."""

    products: Sized
    search: Sized
    term: str

    @property
    def search_path(self) -> str:
        return SEARCH + urlencode({"q": self.term})


# What the planner expects a search to match, asked as the shop's icontains
# asks it.
_ESTIMATE = (
    "EXPLAIN (FORMAT JSON) SELECT 1 FROM catalog_product"
    " WHERE UPPER(name::text) LIKE UPPER(%s)"
)


@pytest.fixture(scope="module")
def catalog(shop_run: ShopRun) -> Iterator[Catalog]:
    """Measure the product list and a search on plan-sized catalogs, once.

    Three terms are searched, and the search graded is the first that the
    planner expects as rarely as any other at both sizes. A term whose
    product happens to be one of the names ANALYZE keeps as its histogram
    makes the planner expect 1% of the table instead of one row, and plan for
    that; a grade must not hang on that draw.
    """
    connection = shop_run.trusted_connection()
    seed = shop_run.shop.seed
    terms = search_terms(seed, plan_sizes(seed).products)
    expected_rows: dict[str, list[float]] = {term: [] for term in terms}

    def search(term: str) -> Callable[[Shop], Page]:
        def request(shop: Shop) -> Page:
            [(plan,)] = connection.execute(_ESTIMATE, [f"%{term}%"]).fetchall()
            expected_rows[term].append(float(plan[0]["Plan"]["Plan Rows"]))
            return shop.get(SEARCH + urlencode({"q": term}))

        return request

    try:
        products, *searches = _measured(
            shop_run,
            connection,
            lambda size: catalog_fill(connection, products=size.products, seed=seed),
            [lambda shop: shop.get(PRODUCT_LIST), *map(search, terms)],
        )
        rarest = [min(rows[size] for rows in expected_rows.values()) for size in (0, 1)]
        chosen = next(
            (
                position
                for position, term in enumerate(terms)
                if expected_rows[term] == rarest
            ),
            0,
        )
        yield Catalog(products, searches[chosen], terms[chosen])
    finally:
        connection.close()


@pytest.fixture(scope="module")
def product_list(catalog: Catalog) -> Sized:
    """Return the product list measured on plan-sized catalogs."""
    return catalog.products


@dataclass
class OrdersPages:
    """The sales dashboard and a customer's history, measured on the same orders."""

    dashboard: Sized
    history: Sized


def _history_customer_make(connection: Any) -> None:
    """Add a customer with a few orders older than every plan order, with items.

    Each has as many items as the plan's orders, so the fill's count of the
    items it made still holds. Made once, after the first fill.
    """
    [(user,)] = connection.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name,"
        " last_name, email, is_staff, is_active, date_joined)"
        " VALUES ('!', false, %s, '', '', '', false, true, now()) RETURNING id",
        [HISTORY_USER],
    ).fetchall()
    [(customer,)] = connection.execute(
        "INSERT INTO customers_customer (phone, city, created_at, user_id)"
        " VALUES ('', 'Plan City', now(), %s) RETURNING id",
        [user],
    ).fetchall()
    connection.execute(
        "WITH made AS (INSERT INTO orders_order (customer_id, status, created_at,"
        " total) SELECT %s, 'paid', '2025-01-01T00:00:00+00:00'::timestamptz"
        " + g * interval '1 day', 20 FROM generate_series(1, %s) g RETURNING id)"
        " INSERT INTO orders_orderitem (order_id, product_id, quantity, unit_price)"
        " SELECT made.id, (SELECT min(id) FROM catalog_product), k, 10"
        " FROM made, generate_series(1, %s::int) k",
        [customer, HISTORY_ORDERS, ITEMS_PER_ORDER],
    )


@pytest.fixture(scope="module")
def orders_pages(shop_run: ShopRun) -> Iterator[OrdersPages]:
    """Measure the dashboard and a customer's history on plan-sized orders, once."""
    connection = shop_run.trusted_connection()
    staff: list[str] = []

    def fill(size: PlanSizes) -> Fill:
        filled = orders_fill(connection, orders=size.orders)
        if not staff:
            staff.append(staff_make(shop_run.shop))
            _history_customer_make(connection)
        return filled

    try:
        dashboard, history = _measured(
            shop_run,
            connection,
            fill,
            [
                lambda shop: shop.get(DASHBOARD, user=staff[0]),
                lambda shop: shop.get(HISTORY, user=HISTORY_USER),
            ],
        )
        yield OrdersPages(dashboard, history)
    finally:
        connection.close()


@pytest.fixture(scope="module")
def dashboard(orders_pages: OrdersPages) -> Sized:
    """Return the sales dashboard measured on plan-sized orders."""
    return orders_pages.dashboard


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


def _assert_few_buffers(
    record_property: Any,
    label: str,
    plans: tuple[list[Explained], list[Explained]],
    products: list[int],
    budget: int,
    fix: str,
) -> None:
    """Fail unless `plans` keep to `budget` buffers at both catalog sizes."""
    small, large = (_total(measured) for measured in plans)
    if _within(record_property, "products", products, small, large, budget):
        return
    raise AssertionError(
        f"{label} touched {small:,} shared buffers with {products[0]:,} "
        f"products and {large:,} with {products[1]:,} (budget: at most "
        f"{budget:,}, the same for both).{_heaviest(plans[1])} {fix}"
    )


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
    _assert_few_buffers(
        record_property,
        f"GET {PRODUCT_LIST}",
        product_list.plans,
        [size.products for size in product_list.sizes],
        PRODUCT_LIST_BUFFERS,
        _PRODUCT_BUFFERS_FIX,
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


def _searches(plans: list[Explained], term: str, label: str) -> list[Explained]:
    """Return the statements that sent `term`: the search's count and page.

    The term is in the SQL text when the client binds values itself, as
    Django's psycopg backend does by default, or else in the parameters.
    """
    wanted = term.upper()
    found = [
        plan
        for plan in plans
        if wanted in plan.query.sql.upper()
        or any(wanted in str(value).upper() for value in plan.query.params or ())
    ]
    assert found, f"{label} sent no query with the term {term!r}"
    return found


def _name_indexes(connection: Any) -> list[tuple[str, str]]:
    """Return catalog_product's indexes on its name, each with its definition."""
    return [
        (index.name, index.definition)
        for index in table_indexes(connection, "catalog_product")
        if re.search(r"\(.*\bname\b.*\)", index.definition.partition(" USING ")[2])
    ]


def _unused(indexes: list[tuple[str, str]]) -> str:
    """Say why the indexes on name that exist did not serve the search, or ''."""
    said = []
    for name, definition in indexes:
        method = definition.partition(" USING ")[2]
        if not any(opclass in method for opclass in TRIGRAM_OPCLASSES):
            reason = "which cannot find a piece from the middle of a name"
        elif "upper(" in method.lower():
            reason = "a trigram index on UPPER(name), which the planner passed over"
        else:
            reason = "a trigram index, but not on the UPPER(name) the query compares"
        said.append(f"{name} ({method}) is {reason}")
    return f" catalog_product has {'; '.join(said)}." if said else ""


def _trigram_verdict(connection: Any, plans: list[Explained], label: str) -> str:
    """Fail unless each of `plans` finds its products through a trigram index.

    Return the nodes that did, for the results.
    """
    indexes = _name_indexes(connection)
    trigram = {
        name
        for name, definition in indexes
        if any(opclass in definition for opclass in TRIGRAM_OPCLASSES)
    }
    used: list[str] = []
    for plan in plans:
        scans = plan.scans("catalog_product")
        seq = [node for node in scans if node.node_type == "Seq Scan"]
        through = [node for node in plan.nodes if node.index in trigram]
        if through and not seq:
            used.extend(str(node) for node in through)
            continue
        read = max(seq or scans, key=lambda node: node.rows_read, default=None)
        ran = (
            f"{read}, which read {read.rows_read:,} rows of catalog_product to "
            f"keep {int(read.actual_rows * max(read.loops, 1)):,}"
            if read
            else "no scan of catalog_product through a trigram index"
        )
        raise AssertionError(
            f"{label}: {plan.query.short}{plan.where} ran {ran} (budget: the "
            "matching products found through a trigram index, whatever the "
            f"table holds).{_unused(indexes)} {_TRIGRAM_FIX}"
        )
    return "; ".join(dict.fromkeys(used))


@pytest.mark.exercise("07-search", budget="trigram-index")
def test_the_search_finds_its_products_through_a_trigram_index(
    catalog: Catalog, shop_run: ShopRun, record_property: Any
) -> None:
    label = f"GET {catalog.search_path}"
    plans = _searches(catalog.search.plans[1], catalog.term, label)
    connection = shop_run.trusted_connection()
    try:
        record_property("plan", _trigram_verdict(connection, plans, label))
    finally:
        connection.close()


@pytest.mark.exercise("07-search", budget="buffers")
def test_the_search_touches_a_few_buffers_whatever_the_catalog(
    catalog: Catalog, record_property: Any
) -> None:
    label = f"GET {catalog.search_path}"
    small, large = (
        _searches(plans, catalog.term, label) for plans in catalog.search.plans
    )
    _assert_few_buffers(
        record_property,
        f"{label}: its queries with the term",
        (small, large),
        [size.products for size in catalog.search.sizes],
        SEARCH_BUFFERS,
        _TRIGRAM_FIX,
    )


@pytest.mark.exercise("07-search", budget="same-output")
def test_the_search_shows_the_products_whose_name_holds_the_term(
    catalog: Catalog, shop_run: ShopRun
) -> None:
    _assert_same_rows(
        shop_run,
        f"GET {catalog.search_path}",
        reading.product_list_rows(catalog.search.pages[1].text),
        lambda connection: expected.product_list_rows_expected(
            connection, catalog.term
        ),
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
def test_the_orders_indexes_are_built_concurrently(
    dashboard: Sized, shop_run: ShopRun, record_property: Any
) -> None:
    query = _one(dashboard.plans[1], _RECENT_ORDERS, f"GET {DASHBOARD}")
    used = [
        node.index
        for node in query.scans("orders_order")
        if node.index is not None and not node.index.endswith("_pkey")
    ]
    if not used:
        raise AssertionError(
            f"GET {DASHBOARD}: {query.query.short}{query.where} reads orders_order "
            "through no index of its own, so none is built concurrently (budget: "
            "every index a migration adds to orders_order and orders_orderitem "
            f"built with CREATE INDEX CONCURRENTLY). {_RECENT_FIX} "
            f"{_CONCURRENTLY_FIX}"
        )
    record_property("built", _concurrently_verdict(shop_run, used[0]))


def _concurrently_verdict(shop_run: ShopRun, index: str) -> str:
    """Fail unless the migrations built the large tables' indexes concurrently.

    Those made with a table, in the transaction that creates it, block no
    writes; every later one, and `index` above all, must be a CREATE INDEX
    CONCURRENTLY. Return how `index` was built, for the results.
    """
    builds = index_builds(shop_run.migration_statements)
    budget = (
        "(budget: every index a migration adds to orders_order and "
        "orders_orderitem built with CREATE INDEX CONCURRENTLY, outside a "
        "transaction, as the checker saw PostgreSQL receive it while it ran your "
        "migrations)"
    )
    for build in builds:
        if build.table in LARGE_TABLES and build.blocks_writes:
            raise AssertionError(
                f"{build.where} sent PostgreSQL {build.short}: a CREATE INDEX "
                f"without CONCURRENTLY on a table that already exists, which "
                f"blocks every write to {build.table} until it ends {budget}. "
                f"{_CONCURRENTLY_FIX}"
            )
    concurrent = [
        build
        for build in builds
        if build.index == index and build.concurrently and not build.in_transaction
    ]
    if not concurrent:
        raise AssertionError(
            f"The dashboard reads the newest orders through {index}, and no "
            "statement PostgreSQL received while the checker ran your migrations "
            f"built it with CREATE INDEX CONCURRENTLY {budget}. {_CONCURRENTLY_FIX}"
        )
    return f"{concurrent[0].where}: {concurrent[0].short}"


@pytest.mark.exercise("07-recent-orders", budget="redundant")
def test_no_index_of_the_orders_only_repeats_the_first_column_of_another(
    orders_pages: OrdersPages, shop_run: ShopRun, record_property: Any
) -> None:
    label = f"GET {HISTORY} (a customer with {HISTORY_ORDERS} orders)"
    plans = [
        plan
        for plan in orders_pages.history.plans[1]
        if _BY_CUSTOMER.search(plan.query.sql)
    ]
    assert plans, f"{label} sent no query for the customer's orders"
    # The sorted list first: the lookup a diagnosis is best told with.
    plans.sort(key=lambda plan: not _RECENT_ORDERS.search(plan.query.sql))
    connection = shop_run.trusted_connection()
    try:
        indexes = table_indexes(connection, "orders_order")
    finally:
        connection.close()
    record_property("indexes", [f"{i.name} ({', '.join(i.keys)})" for i in indexes])
    alone = [
        i for i in indexes if i.keys == ("customer_id",) and not (i.special or i.unique)
    ]
    # An index that can stand in for one on customer_id alone, and more.
    leading = {
        i.name
        for i in indexes
        if not i.special and i.keys[:1] == ("customer_id",) and len(i.keys) > 1
    }
    for plan in plans:
        through = [node for node in plan.nodes if node.index in leading]
        read = ", then ".join(
            str(node) for node in plan.nodes if "Scan" in node.node_type
        )
        if through and not alone:
            continue
        said = [
            f"orders_order still has {alone[0].name}, on (customer_id) alone"
            if alone
            else "",
            ""
            if through
            else "no index of orders_order that leads with customer_id and goes "
            "on with more columns served it",
        ]
        raise AssertionError(
            f"{label}: {plan.query.short}{plan.where} ran {read}; "
            f"{', and '.join(filter(None, said))} (budget: a customer's orders read "
            "through an index that leads with customer_id and goes on with the "
            "columns they are sorted by, and no index on customer_id alone beside "
            "it: one whose columns lead another's serves nothing the longer one "
            f"cannot). {_REDUNDANT_FIX}"
        )
    scans = [node for node in plans[0].nodes if "Scan" in node.node_type]
    record_property("plan", ", then ".join(str(node) for node in scans))


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
