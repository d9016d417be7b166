"""Trusted tests of lesson 11, the capstone: the offenders found under traffic.

They drive the shop apart (`checker.harness`). The catalog is plan-sized
(`checker.trusted.plan_data`), made once for the module by the trusted side;
then the mix of `course traffic` (`checker.course.traffic.traffic_plan`) is
replayed on it, with the slugs and SKUs read from the run's database, so the
shop is graded on the very traffic the learner ran. Every figure comes from
the servers: queries from what PostgreSQL received, each statement's calls,
rows and shared buffers under the traffic from pg_stat_statements (read for
the run's role and database: `checker.harness.statements`), plans from
PostgreSQL's own `EXPLAIN (ANALYZE, BUFFERS)`, cache hits from the run's
Redis. Nothing here times a request. The failures name the
signal that points at each offender, not its fix: finding the fix is the
exercise.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from django.template.defaultfilters import floatformat

from checker import sql
from checker.budgets import assert_within
from checker.budgets.cache import cache_data, keys_expire
from checker.course.traffic import Visit, traffic_plan
from checker.groups import similar_groups
from checker.harness.cache_evidence import cache_warm, cache_written
from checker.harness.evidence import EvidenceMeasurement
from checker.harness.run import ShopRun
from checker.harness.shop import Page
from checker.harness.statements import (
    Statement,
    StatementsUnavailable,
    statements_read,
    statements_reset,
)
from checker.queries import CapturedQuery
from checker.trusted import reading
from checker.trusted.explained import Explained, explain_received
from checker.trusted.plan_data import catalog_fill, plan_sizes, tables_analyze

# Requests replayed: two blocks of the mix, each endpoint asked its share.
REQUESTS = 40
BRAND_PAGE = "GET /brands/<slug>/"
LOOKUP = "GET /lookup/?sku=<prefix>"
BRANDS = "GET /brands/"
# A brand page: the brand, then its products with their figures.
BRAND_QUERIES = 3
# A lookup returns a few products; read through an index it touches a few
# dozen buffers, where a scan of the plan-sized catalog touches hundreds:
# pg_stat_statements holds the mean of the traffic's lookups to it.
LOOKUP_BUFFERS = 60
_LOOKUP_QUERY = re.compile(r'UPPER\("catalog_product"\."sku"', re.I)
_TOP_RATED_SQL = (
    "SELECT p.name, avg(r.rating)::float, count(r.id) FROM catalog_product p"
    " JOIN catalog_review r ON r.product_id = p.id AND r.is_approved"
    " WHERE p.is_active GROUP BY p.id HAVING count(r.id) >= 3"
    " ORDER BY 2 DESC, 3 DESC, p.id LIMIT 10"
)


@dataclass
class Replayed:
    """The traffic as replayed on the plan-sized catalog, and what it cost."""

    visits: list[Visit]
    pages: list[Page]
    # What pg_stat_statements counted under the traffic, most buffers first;
    # or why it could not count.
    statements: list[Statement]
    statements_problem: str
    lookups: list[Explained]
    brand_rows: tuple[list[reading.Row], list[reading.Row]]
    lookup_rows: tuple[list[reading.Row], list[reading.Row]]
    top_rated_rows: tuple[list[reading.Row], list[reading.Row]]

    def of(self, endpoint: str) -> list[Page]:
        """Return the pages the traffic asked of `endpoint`."""
        return _pages_of(self.visits, self.pages, endpoint)

    def queries(self, endpoint: str) -> list[CapturedQuery]:
        """Return every query `endpoint`'s requests made."""
        return [q for page in self.of(endpoint) for q in page.measurement.queries]

    @property
    def total_queries(self) -> int:
        return sum(page.measurement.query_count for page in self.pages)


def _pages_of(
    visits: Sequence[Visit], pages: Sequence[Page], endpoint: str
) -> list[Page]:
    return [p for v, p in zip(visits, pages, strict=True) if v.endpoint == endpoint]


def _rows(connection: Any, query: str, *params: Any) -> list[tuple[Any, ...]]:
    return list(connection.execute(query, params).fetchall())


def _brand_rows_expected(connection: Any, slug: str) -> list[reading.Row]:
    return [
        (name, category, price, str(count))
        for name, category, price, count in _rows(
            connection,
            "SELECT p.name, c.name, p.price::text, (SELECT count(*) FROM"
            " catalog_review r WHERE r.product_id = p.id AND r.is_approved)"
            " FROM catalog_product p JOIN catalog_category c ON c.id = p.category_id"
            " JOIN catalog_brand b ON b.id = p.brand_id WHERE b.slug = %s"
            " AND p.is_active ORDER BY p.name, p.id",
            slug,
        )
    ]


def _lookup_rows_expected(connection: Any, prefix: str) -> list[reading.Row]:
    return _rows(
        connection,
        "SELECT sku, name, price::text FROM catalog_product WHERE is_active"
        " AND upper(sku) LIKE upper(%s) || '%%' ORDER BY sku LIMIT 20",
        prefix,
    )


def _top_rated_expected(connection: Any) -> list[reading.Row]:
    return [
        (name, floatformat(rating, 2), str(count))
        for name, rating, count in _rows(connection, _TOP_RATED_SQL)
    ]


@pytest.fixture(scope="module")
def traffic(shop_run: ShopRun) -> Iterator[Replayed]:
    """Fill a plan-sized catalog, replay the traffic on it, explain what it sent."""
    shop = shop_run.shop
    shop.reset()
    assert shop_run.database is not None and shop_run.redis is not None
    shop_run.redis.admin().flushdb()
    connection = shop_run.trusted_connection()
    try:
        connection.execute("SET TIME ZONE 'UTC'")
        catalog_fill(
            connection, products=plan_sizes(shop.seed).products, seed=shop.seed
        )
        # The fill awaits moderation for one review in five by its number,
        # which may leave whole brands with every review approved: spread the
        # unapproved ones over every product, so that a count of all reviews
        # differs from a count of the approved ones.
        connection.execute(
            "UPDATE catalog_review SET is_approved = mod(id * 7, 11) > 2"
        )
        tables_analyze(connection, "catalog_review")
        products = _rows(
            connection,
            "SELECT slug, sku FROM catalog_product WHERE is_active ORDER BY id",
        )
        brands = [
            row[0]
            for row in _rows(connection, "SELECT slug FROM catalog_brand ORDER BY id")
        ]
        visits = traffic_plan(
            products=products, brands=brands, requests=REQUESTS, seed=shop.seed
        )
        role, name = shop_run.database.role, shop_run.database.name
        # Counted from here: the fill's own statements are not the traffic's.
        problem = ""
        try:
            statements_reset(role, name)
        except StatementsUnavailable as error:
            problem = str(error)
        pages = [shop.get(visit.path, label=visit.endpoint) for visit in visits]
        for visit, page in zip(visits, pages, strict=True):
            assert page.status == 200, f"GET {visit.path} answered {page.status}"
        # Read before anything else runs as the run's role, the plans below too.
        statements = [] if problem else statements_read(role, name)
        lookups = [
            plan
            for plan in explain_received(
                connection,
                role,
                [
                    q
                    for page in _pages_of(visits, pages, LOOKUP)
                    for q in page.measurement.queries
                ],
            )
            if _LOOKUP_QUERY.search(plan.query.sql)
        ]
        brand_visits = [v for v in visits if v.endpoint == BRAND_PAGE]
        lookup_visit = next(v for v in visits if v.endpoint == LOOKUP)
        lookup_page = pages[visits.index(lookup_visit)]
        top_page = pages[next(i for i, v in enumerate(visits) if v.endpoint == BRANDS)]
        yield Replayed(
            visits,
            pages,
            statements,
            problem,
            lookups,
            (
                [
                    row
                    for page in _pages_of(visits, pages, BRAND_PAGE)
                    for row in reading.rows_of(page.text, "product")
                ],
                [
                    row
                    for visit in brand_visits
                    for row in _brand_rows_expected(
                        connection, visit.path.split("/")[2]
                    )
                ],
            ),
            (
                reading.rows_of(lookup_page.text, "product"),
                _lookup_rows_expected(connection, lookup_visit.path.partition("=")[2]),
            ),
            (
                reading.rows_of(top_page.text, "top-rated"),
                _top_rated_expected(connection),
            ),
        )
    finally:
        connection.close()


def _endpoint_ranking(replayed: Replayed) -> str:
    """Name the endpoints by the queries they made under the traffic, most first."""
    made: Counter[str] = Counter()
    for visit, page in zip(replayed.visits, replayed.pages, strict=True):
        made[visit.endpoint] += page.measurement.query_count
    return ", ".join(f"{endpoint} {count:,}" for endpoint, count in made.most_common(4))


@pytest.mark.exercise("11-query-per-row", budget="queries")
def test_each_brand_page_makes_a_few_queries_under_the_traffic(
    traffic: Replayed, record_property: Any
) -> None:
    pages = traffic.of(BRAND_PAGE)
    counts = [page.measurement.query_count for page in pages]
    record_property("queries", counts)
    if max(counts) <= BRAND_QUERIES:
        return
    repeated = similar_groups(traffic.queries(BRAND_PAGE))[:2]
    statements = "; ".join(
        f"{group.short} ({group.count:,} times"
        + (f", from {group.origin}" if group.origin else "")
        + ")"
        for group in repeated
    )
    raise AssertionError(
        f"Under the traffic's {len(traffic.pages)} requests the shop made "
        f"{traffic.total_queries:,} queries; {BRAND_PAGE} made {sum(counts):,} "
        f"of them in {len(pages)} requests, up to {max(counts):,} in one "
        f"(budget: at most {BRAND_QUERIES} per request, whatever the brand "
        f"sells). Queries by endpoint, most first: {_endpoint_ranking(traffic)}. "
        f"The statements it sends most: {statements}."
    )


@pytest.mark.exercise("11-query-per-row", budget="same-output")
def test_the_brand_page_shows_the_same_products(traffic: Replayed) -> None:
    reading.assert_same(f"The traffic's {BRAND_PAGE} pages", *traffic.brand_rows)


def _ordinal(place: int) -> str:
    if place == 1:
        return "first"
    teens = place % 100 // 10 == 1
    suffix = "th" if teens else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
    return f"{place}{suffix}"


def _counted(traffic: Replayed, query: CapturedQuery) -> Statement | None:
    """Return what pg_stat_statements counted for `query`'s statement, if any."""
    return next(
        (s for s in traffic.statements if sql.normalise(s.query) == query.normalised),
        None,
    )


def _lookup_counted(traffic: Replayed) -> Statement:
    if traffic.statements_problem:
        raise AssertionError(
            "The traffic's statements could not be counted: "
            + traffic.statements_problem
        )
    found = [s for s in traffic.statements if _LOOKUP_QUERY.search(s.query)]
    assert found, (
        f"pg_stat_statements counted no statement like {_LOOKUP_QUERY.pattern!r}"
        f" under the traffic, though {LOOKUP} sent {len(traffic.lookups)}"
    )
    return found[0]


def _ranking(traffic: Replayed, counted: Statement) -> str:
    """Say where pg_stat_statements ranks `counted`, and what its calls cost."""
    place = traffic.statements.index(counted) + 1
    calls = max(counted.calls, 1)
    return (
        f"pg_stat_statements ranks it {_ordinal(place)} of the"
        f" {len(traffic.statements)} statements the traffic's"
        f" {len(traffic.pages)} requests sent, by shared buffers touched in all:"
        f" {counted.calls:,} calls, {counted.buffers:,} shared buffers,"
        f" {counted.buffers // calls:,} a call, for"
        f" {counted.rows / calls:,.0f} rows a call"
    )


def _lookup_signal(traffic: Replayed, plan: Explained) -> str:
    scan = plan.heaviest_scan()
    read = f" ran {scan}, touching {scan.buffers:,} shared buffers," if scan else ""
    if traffic.statements_problem:
        counted = f"{len(traffic.lookups)} calls under the traffic"
    else:
        counted = _ranking(traffic, _lookup_counted(traffic))
    return (
        f"{LOOKUP}: {plan.query.short}{plan.where}{read} to return "
        f"{plan.rows:,} rows; {counted}"
    )


def _lookups(traffic: Replayed) -> list[Explained]:
    assert traffic.lookups, (
        f"{LOOKUP} sent no query like {_LOOKUP_QUERY.pattern!r} under the traffic"
    )
    return traffic.lookups


@pytest.mark.exercise("11-missing-index", budget="plan")
def test_the_sku_lookup_reads_the_catalog_through_an_index(
    traffic: Replayed, record_property: Any
) -> None:
    lookups = _lookups(traffic)
    scanned = [
        plan
        for plan in lookups
        if any(node.node_type == "Seq Scan" for node in plan.scans("catalog_product"))
    ]
    record_property("plans", sorted({str(p.heaviest_scan()) for p in lookups}))
    if not scanned:
        return
    raise AssertionError(
        f"{_lookup_signal(traffic, scanned[0])} (budget: catalog_product read "
        "through an index, no Seq Scan, for every lookup)."
    )


@pytest.mark.exercise("11-missing-index", budget="buffers")
def test_the_sku_lookup_touches_a_few_buffers_a_call_under_the_traffic(
    traffic: Replayed, record_property: Any
) -> None:
    counted = _lookup_counted(traffic)
    per_call = counted.buffers // max(counted.calls, 1)
    # The mean of pg_stat_statements could hide a heavy lookup behind cheap
    # calls the shop adds itself: every lookup the traffic sent, run again
    # with its own parameters, must be light too.
    plan = max(_lookups(traffic), key=lambda plan: plan.buffers)
    record_property("buffers_per_call", per_call)
    record_property("rank", traffic.statements.index(counted) + 1)
    record_property("statements", len(traffic.statements))
    if per_call <= LOOKUP_BUFFERS and plan.buffers <= LOOKUP_BUFFERS:
        return
    if per_call <= LOOKUP_BUFFERS:
        raise AssertionError(
            f"{LOOKUP}: {plan.query.short}{plan.where}: pg_stat_statements counts"
            f" {per_call:,} shared buffers a call over its {counted.calls:,} calls,"
            f" yet one of the traffic's {len(traffic.lookups)} lookups, run again"
            f" with its own parameters, touched {plan.buffers:,} (budget: at most"
            f" {LOOKUP_BUFFERS} shared buffers for every lookup)."
        )
    raise AssertionError(
        f"{LOOKUP}: {plan.query.short}{plan.where} under the traffic: "
        f"{_ranking(traffic, counted)} (budget: at most {LOOKUP_BUFFERS} shared"
        " buffers a call)."
    )


@pytest.mark.exercise("11-missing-index", budget="same-output")
def test_the_sku_lookup_shows_the_same_products(traffic: Replayed) -> None:
    reading.assert_same(LOOKUP, *traffic.lookup_rows)


def _times(count: int) -> str:
    return f"{count} time{'' if count == 1 else 's'}"


def _on_reviews(measurement: EvidenceMeasurement) -> list[CapturedQuery]:
    return [q for q in measurement.queries if "catalog_review" in sql.tables(q.sql)]


@pytest.mark.exercise("11-uncached-fragment", budget="warm")
def test_the_top_rated_products_come_from_the_cache_once_warm(
    traffic: Replayed, shop_run: ShopRun, record_property: Any
) -> None:
    shop = shop_run.shop
    assert shop_run.redis is not None
    # The traffic may have left the figures cached: start cold.
    shop_run.redis.admin().flushdb()
    warm = cache_warm(shop, lambda: shop.get("/brands/"), label=f"The second {BRANDS}")
    operations = cache_data(warm)["operations"]
    hits = sum(op["hits"] for op in operations)
    reads = _on_reviews(warm)
    record_property("review_queries", len(reads))
    record_property("cache_hits", hits)
    if not reads and hits:
        return
    pages = traffic.of(BRANDS)
    ran = sum(1 for page in pages if _on_reviews(page.measurement))
    first = (reads or [q for p in pages for q in _on_reviews(p.measurement)])[0]
    counted = _counted(traffic, first)
    calls = max(counted.calls, 1) if counted else 1
    cost = (
        f", {counted.buffers // calls:,} shared buffers a call, each returning"
        f" {counted.rows // calls} rows"
        if counted
        else ""
    )
    origin = f" — from {first.origin}" if first.origin else ""
    raise AssertionError(
        f"Under the traffic, {BRANDS} ran {first.short}{origin} on {ran} of its "
        f"{len(pages)} requests{cost}; asked twice in a row, the second request "
        f"ran it {_times(len(reads))} and hit the cache {_times(hits)} (budget: once "
        "computed, served with no query on catalog_review and at least 1 cache "
        "hit)."
    )


@pytest.mark.exercise("11-uncached-fragment", budget="expires")
def test_the_cached_top_rated_products_expire(
    traffic: Replayed, shop_run: ShopRun
) -> None:
    shop = shop_run.shop
    assert shop_run.redis is not None
    shop_run.redis.admin().flushdb()
    measurement = cache_written(
        shop,
        lambda: [shop.get("/brands/"), shop.get("/brands/")],
        label=f"Two {BRANDS} requests",
    )

    assert_within(measurement, keys_expire())


@pytest.mark.exercise("11-uncached-fragment", budget="same-output")
def test_the_brand_index_shows_the_same_top_rated_products(traffic: Replayed) -> None:
    reading.assert_same(f"{BRANDS} (top rated)", *traffic.top_rated_rows)
