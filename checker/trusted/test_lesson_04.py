"""Trusted tests of lesson 4: cached data, fragments and pages, and invalidation.

They drive the shop apart (`checker.harness`): data is built and written
inside the shop, so its signals and on_commit callbacks fire there; queries
are counted from what PostgreSQL received; hits, keys and their lifetimes
are read from the run's own Redis (`checker.harness.cache_evidence`); and
what a read must show after a write is computed here from the run's
database, never rendered by the shop.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from checker import sql
from checker.budgets import Budget, Verdict, assert_within
from checker.budgets.cache import (
    KeysExpire,
    cache_data,
    cache_hits_at_least,
    cache_misses_at_most,
    label_of,
    warm_hit_without_queries,
)
from checker.harness.cache_evidence import cache_warm, cache_written
from checker.harness.run import ShopRun
from checker.harness.shop import Shop, ShopError
from checker.invalidation import diff_lines
from checker.trusted import expected, reading
from checker.trusted.reading import Row

SALES = "sales_bestsellers() and sales_by_category()"
PRODUCT_PAGE = "GET /products/<slug>/"
# ShopError's text: the error, then the last line of the shop it passed.
_SHOP_ERROR = re.compile(
    r"(?P<error>.*?)(?: \((?P<where>shop_app/[^()]*:\d+)\))?", re.DOTALL
)


@pytest.fixture(autouse=True)
def cache_emptied(shop_run: ShopRun) -> Iterator[None]:
    """Start and leave each test with an empty cache: slugs repeat across tests."""
    # The shop's own Redis user may not FLUSHDB; the trusted side's may.
    assert shop_run.redis is not None
    shop_run.redis.admin().flushdb()
    yield
    shop_run.redis.admin().flushdb()


def _first_origin(subject: Any) -> str | None:
    """Return where the first query run by the shop's own code came from."""
    return next(
        (str(q.origin) for q in subject.statements if q.origin and q.origin.in_project),
        None,
    )


@dataclass(repr=False)
class NoQueryOn(Budget):
    """No query reads the table, as its main table, once the cache is warm."""

    table: str = ""

    def describe(self) -> str:
        """Return the budget in words."""
        return f"no query on {self.table} once the cache is warm"

    def check(self, subject: Any) -> Verdict:
        """Find the queries whose first table is the budget's table."""
        found = [
            query
            for query in subject.statements
            if sql.tables(query.sql)[:1] == [self.table]
        ]
        label = label_of(subject)
        noun = "query" if len(found) == 1 else "queries"
        measured = f"{len(found)} {noun} on {self.table}"
        if not found:
            message = f"{label} made no query on {self.table}."
            return Verdict(self.describe(), True, measured, message, {}, self.points)
        first = found[0]
        origin = f" — from {first.origin}" if first.origin else ""
        message = (
            f"{label} still made {measured} (budget: {self.describe()}). First: "
            f"{first.short}{origin}. Wrap the part of the template that reads it "
            "in {% cache %}: the queryset in the context is lazy, so a cached "
            "fragment never runs it."
        )
        diagnosis = {"queries": [query.to_dict() for query in found]}
        return Verdict(
            self.describe(), False, measured, message, diagnosis, self.points
        )


@dataclass(repr=False)
class WrittenKeysExpire(KeysExpire):
    """Something was cached, and every key written has a lifetime in Redis."""

    def check(self, subject: Any) -> Verdict:
        """Fail when nothing was written; else check each key's lifetime."""
        if any(op["write"] for op in cache_data(subject)["operations"]):
            return super().check(subject)
        origin = _first_origin(subject)
        message = (
            f"{label_of(subject)} wrote nothing to the cache (budget: "
            f"{self.describe()}): with nothing cached, no timeout can be seen."
            + (
                f" The data came from the database: first query from {origin}."
                if origin
                else ""
            )
            + " Store it with a timeout in seconds: cache.get_or_set(key, compute, "
            "timeout) for data, {% cache timeout name %} for a fragment, "
            "cache.set(key, page, timeout) for a page."
        )
        return Verdict(
            self.describe(), False, "nothing written", message, {}, self.points
        )


@dataclass(frozen=True)
class ReadAfterWrite:
    """One read-write-read scenario, next to what the database says."""

    label: str
    # The database's rows before the write, and after it.
    before: list[Row]
    expected: list[Row]
    # What the shop showed when read again after the write.
    served: list[Row]


@dataclass(repr=False)
class NoStaleRead(Budget):
    """After a write, the read shows what the database says."""

    def describe(self) -> str:
        """Return the budget in words."""
        return "no stale reads after a write"

    def check(self, subject: Any) -> Verdict:
        """Compare the read after the write with the database's rows."""
        found: ReadAfterWrite = subject
        stale = found.served != found.expected
        if stale:
            message = (
                f"{found.label} was stale after the write: it differs from what "
                f"the database says (budget: {self.describe()}).\n"
                + "\n".join(
                    diff_lines(
                        [repr(row) for row in found.expected],
                        [repr(row) for row in found.served],
                        source="the database",
                    )
                )
                + "\nDelete or update the cached entry where the data is written "
                "(cache.delete(key) in the service, or a post_save/post_delete "
                "signal, once the write commits), or put a version in the key."
            )
        elif found.before == found.expected:
            message = (
                f"{found.label}: the write did not change what the database says "
                f"the read shows (budget: {self.describe()}). The scenario proves "
                "nothing."
            )
        else:
            message = f"{found.label} matched the database after the write."
        met = not stale and found.before != found.expected
        diagnosis = {"expected": found.expected, "served": found.served}
        measured = "stale" if stale else "fresh"
        return Verdict(self.describe(), met, measured, message, diagnosis, self.points)


def _assert_fresh(
    label: str,
    read: Callable[[], list[Row]],
    write: Callable[[], object],
    database: Callable[[], list[Row]],
) -> None:
    """Read (warming the cache), write in the shop, read again; compare."""
    read()
    before = database()
    write()
    served = read()
    assert_within(ReadAfterWrite(label, before, database(), served), NoStaleRead())


def _sales(shop: Shop) -> tuple[Any, Any]:
    bestsellers, _ = shop.invoke(
        "orders.selectors.sales_bestsellers", label="sales_bestsellers()"
    )
    by_category, _ = shop.invoke(
        "orders.selectors.sales_by_category", label="sales_by_category()"
    )
    return bestsellers, by_category


def _sales_rows(shop: Shop) -> list[Row]:
    bestsellers, by_category = _sales(shop)
    return [
        *(("bestseller", *row) for row in reading.bestseller_rows(bestsellers)),
        *(("category", *row) for row in reading.category_sales_rows(by_category)),
    ]


def _sales_rows_expected(trusted_sql: Any) -> list[Row]:
    return [
        *(
            ("bestseller", *row)
            for row in expected.bestseller_rows_expected(trusted_sql)
        ),
        *(
            ("category", *row)
            for row in expected.category_sales_rows_expected(trusted_sql)
        ),
    ]


def _order_with(trusted_sql: Any, status: str) -> dict[str, Any]:
    [(pk,)] = trusted_sql.execute(
        "SELECT id FROM orders_order WHERE status = %s ORDER BY id LIMIT 1", [status]
    ).fetchall()
    return {"__ref__": "orders.Order", "pk": pk}


@pytest.mark.exercise("04-sales-dashboard", budget="warm")
def test_sales_figures_come_from_the_cache_once_warm(shop: Shop) -> None:
    shop.build("orders_make", orders=8)

    warm = cache_warm(shop, lambda: _sales(shop), label=f"The second call of {SALES}")

    assert_within(warm, warm_hit_without_queries(), cache_misses_at_most(0))


@pytest.mark.exercise("04-sales-dashboard", budget="no-stale")
def test_sales_figures_follow_order_status_changes(
    shop: Shop, trusted_sql: Any
) -> None:
    shop.build("orders_make", orders=8)
    writes = {
        "a pending order was paid": (_order_with(trusted_sql, "pending"), "paid"),
        "a paid order was cancelled": (_order_with(trusted_sql, "paid"), "cancelled"),
    }

    for scenario, (order, status) in writes.items():
        _assert_fresh(
            f"{SALES} after {scenario}",
            lambda: _sales_rows(shop),
            partial(shop.call, "order_status_set", order=order, status=status),
            lambda: _sales_rows_expected(trusted_sql),
        )


@pytest.mark.exercise("04-sales-dashboard", budget="expires")
def test_cached_sales_figures_expire(shop: Shop) -> None:
    shop.build("orders_make", orders=8)

    measurement = cache_written(
        shop, lambda: [_sales(shop), _sales(shop)], label=f"Two calls of {SALES}"
    )

    assert_within(measurement, WrittenKeysExpire())


@pytest.mark.exercise("04-category-links", budget="warm")
def test_category_links_come_from_a_cached_fragment(shop: Shop) -> None:
    shop.build("catalog_make", products=6)

    warm = cache_warm(
        shop,
        lambda: shop.get("/products/", cache=True),
        label="The second GET /products/",
    )

    assert_within(
        warm,
        NoQueryOn(table="catalog_category"),
        cache_hits_at_least(1, family="fragment"),
    )


@pytest.mark.exercise("04-category-links", budget="no-stale")
def test_renaming_a_category_updates_the_links(shop: Shop, trusted_sql: Any) -> None:
    [product, *_] = shop.build("catalog_make", products=6)
    [(pk, name)] = trusted_sql.execute(
        "SELECT c.id, c.name FROM catalog_category c"
        " JOIN catalog_product p ON p.category_id = c.id WHERE p.id = %s",
        [product["pk"]],
    ).fetchall()
    category = {"__ref__": "catalog.Category", "pk": pk}

    _assert_fresh(
        "GET /products/ after a category was renamed",
        lambda: reading.category_link_rows(shop.get("/products/").text),
        lambda: shop.call("category_rename", category=category, to=f"{name} (renamed)"),
        lambda: expected.category_link_rows_expected(trusted_sql),
    )


@pytest.mark.exercise("04-category-links", budget="expires")
def test_cached_category_links_expire(shop: Shop) -> None:
    shop.build("catalog_make", products=6)

    measurement = cache_written(
        shop,
        lambda: [shop.get("/products/", cache=True) for _ in range(2)],
        label="Two GETs of /products/",
    )

    assert_within(measurement, WrittenKeysExpire())


@pytest.mark.exercise("04-product-page", budget="warm")
def test_an_anonymous_product_page_comes_from_the_cache_once_warm(
    shop: Shop,
) -> None:
    [product] = shop.build("catalog_make", products=1)

    warm = cache_warm(
        shop,
        lambda: shop.get(product["url"], cache=True),
        label=f"The second {PRODUCT_PAGE}",
    )

    assert_within(warm, warm_hit_without_queries())


@pytest.mark.exercise("04-product-page", budget="no-stale")
def test_the_product_page_follows_price_stock_and_review_changes(
    shop: Shop, trusted_sql: Any
) -> None:
    [product] = shop.build("catalog_make", products=1, reviews_per_product=4)
    writes = {
        "its price was changed with save()": "product_price_raise",
        'its stock was changed with save(update_fields=["stock"])': "product_restock",
        "one of its reviews was approved": "review_approve",
    }

    for scenario, write in writes.items():
        _assert_fresh(
            f"{PRODUCT_PAGE} after {scenario}",
            lambda: reading.product_page_rows(shop.get(product["url"]).text),
            partial(shop.call, write, product=product),
            lambda: expected.product_page_rows_expected(trusted_sql, product["pk"]),
        )


@pytest.mark.exercise("04-product-page", budget="expires")
def test_the_cached_product_page_expires(shop: Shop) -> None:
    [product] = shop.build("catalog_make", products=1)

    measurement = cache_written(
        shop,
        lambda: [shop.get(product["url"], cache=True) for _ in range(2)],
        label=f"Two GETs of {PRODUCT_PAGE[4:]}",
    )

    assert_within(measurement, WrittenKeysExpire())


def _refused_socket(shop_run: ShopRun) -> Path:
    """Return a socket path beside the run's Redis that refuses every connection.

    A socket bound and closed without listening stays on disk, and connecting
    to it is refused at once, as with a Redis that is down.
    """
    assert shop_run.redis is not None
    path = shop_run.redis.socket.with_name("refused.sock")
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(str(path))
    # Any user may try it, as any may connect to the run's own socket.
    path.chmod(0o777)
    return path


@pytest.mark.exercise("04-product-page", budget="outage")
def test_the_product_page_answers_while_redis_is_down(
    shop: Shop, shop_run: ShopRun, trusted_sql: Any
) -> None:
    [product] = shop.build("catalog_make", products=1)
    budget = "the page answers as usual while the cache is down"
    down = "the cache's Redis refused every connection"

    cacheless = shop_run.restart(REDIS_URL=f"unix://{_refused_socket(shop_run)}?db=0")
    try:
        page = cacheless.get(product["url"])
    except ShopError as error:
        failed = _SHOP_ERROR.fullmatch(str(error))
        assert failed is not None
        where = f" — from {failed['where']}" if failed["where"] else ""
        raise AssertionError(
            f"{PRODUCT_PAGE} failed while {down} (budget: {budget}): "
            f"{failed['error'].rstrip('.')}{where}. A cache only saves work: let "
            'django-redis treat a failed call as a miss with "OPTIONS": '
            '{"IGNORE_EXCEPTIONS": True} on the cache in CACHES, and log it with '
            "DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True."
        ) from None

    assert page.status == 200, (
        f"{PRODUCT_PAGE} answered {page.status} while {down} (budget: {budget})."
    )
    reading.assert_same(
        f"{PRODUCT_PAGE} while {down}",
        reading.product_page_rows(page.text),
        expected.product_page_rows_expected(trusted_sql, product["pk"]),
    )
