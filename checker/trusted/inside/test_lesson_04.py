"""Trusted tests of lesson 4: cached data, fragments and pages, and invalidation."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from django.conf import settings
from django.test.utils import override_settings

from catalog.models import Product
from checker import sql
from checker.budgets import Budget, Verdict, assert_within
from checker.budgets.cache import (
    cache_hits_at_least,
    cache_misses_at_most,
    keys_expire,
    label_of,
    no_stale_reads,
    warm_hit_without_queries,
)
from checker.harness.shop_data import catalog_make, orders_make
from checker.invalidation import as_text, check_invalidation, fresh_render
from checker.trusted.measuring import measured, shop_code
from orders.models import Order
from orders.selectors import sales_bestsellers, sales_by_category

pytestmark = pytest.mark.django_db

SALES = "sales_bestsellers() and sales_by_category()"
PRODUCT_PAGE = "GET /products/<slug>/"
# Nothing listens on the discard port: connecting is refused at once.
DOWN_REDIS = "redis://127.0.0.1:9/0"

Capture = Callable[..., Any]


def _committed(capture: Capture, write: Callable[[], object]) -> Callable[[], None]:
    """Return `write` run so that its on_commit callbacks run, as on a commit."""

    def run() -> None:
        # The test runs inside a transaction that is never committed.
        with capture(execute=True):
            write()

    return run


def _assert_fresh(
    label: str, read: Callable[[], Any], write: Callable[[], object]
) -> None:
    """Read, write, read again: fail if the second read is stale."""
    assert_within(check_invalidation(read, write, label=label), no_stale_reads())


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


def _sales() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return sales_bestsellers(), sales_by_category()


def _status_set(order: Order, status: str) -> None:
    order.status = status
    order.save()


@pytest.mark.exercise("04-sales-dashboard", budget="warm")
def test_sales_figures_come_from_the_cache_once_warm() -> None:
    orders_make(orders=8)
    _sales()

    with measured(f"The second call of {SALES}", memory=False) as measurement:
        _sales()

    assert_within(measurement, warm_hit_without_queries(), cache_misses_at_most(0))


@pytest.mark.exercise("04-sales-dashboard", budget="no-stale")
def test_sales_figures_follow_order_status_changes(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    orders = orders_make(orders=8)
    pending = next(o for o in orders if o.status == Order.Status.PENDING)
    paid = next(o for o in orders if o.status == Order.Status.PAID)
    writes = {
        "a pending order was paid": lambda: _status_set(pending, Order.Status.PAID),
        "a paid order was cancelled": lambda: _status_set(paid, Order.Status.CANCELLED),
    }

    for scenario, write in writes.items():
        _assert_fresh(
            f"{SALES} after {scenario}",
            _sales,
            _committed(django_capture_on_commit_callbacks, write),
        )


@pytest.mark.exercise("04-sales-dashboard", budget="expires")
def test_cached_sales_figures_expire() -> None:
    orders_make(orders=8)

    with measured(f"Two calls of {SALES}", memory=False) as measurement:
        _sales()
        _sales()

    assert_within(measurement, keys_expire())


@pytest.mark.exercise("04-category-links", budget="warm")
def test_category_links_come_from_a_cached_fragment(client: Any) -> None:
    catalog_make(products=6)
    client.get("/products/")

    with measured("The second GET /products/", memory=False) as measurement:
        client.get("/products/")

    assert_within(
        measurement,
        NoQueryOn(table="catalog_category"),
        cache_hits_at_least(1, family="fragment"),
    )


@pytest.mark.exercise("04-category-links", budget="no-stale")
def test_renaming_a_category_updates_the_links(
    client: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    [product, *_] = catalog_make(products=6)
    category = product.category

    def rename() -> None:
        category.name = f"{category.name} (renamed)"
        category.save()

    _assert_fresh(
        "GET /products/ after a category was renamed",
        lambda: client.get("/products/"),
        _committed(django_capture_on_commit_callbacks, rename),
    )


@pytest.mark.exercise("04-category-links", budget="expires")
def test_cached_category_links_expire(client: Any) -> None:
    catalog_make(products=6)

    with measured("Two GETs of /products/", memory=False) as measurement:
        client.get("/products/")
        client.get("/products/")

    assert_within(measurement, keys_expire())


@pytest.mark.exercise("04-product-page", budget="warm")
def test_an_anonymous_product_page_comes_from_the_cache_once_warm(
    client: Any,
) -> None:
    [product] = catalog_make(products=1)
    client.get(product.get_absolute_url())

    with measured(f"The second {PRODUCT_PAGE}", memory=False) as measurement:
        client.get(product.get_absolute_url())

    assert_within(measurement, warm_hit_without_queries())


def _price_raise(product: Product) -> None:
    fetched = Product.objects.get(pk=product.pk)
    fetched.price += 5
    fetched.save()


def _restock(product: Product) -> None:
    fetched = Product.objects.get(pk=product.pk)
    fetched.stock += 7
    fetched.save(update_fields=["stock"])


def _review_approve(product: Product) -> None:
    review = product.reviews.filter(is_approved=False).order_by("id")[0]
    review.is_approved = True
    review.save()


@pytest.mark.exercise("04-product-page", budget="no-stale")
def test_the_product_page_follows_price_stock_and_review_changes(
    client: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    [product] = catalog_make(products=1, reviews_per_product=4)
    writes = {
        "its price was changed with save()": _price_raise,
        'its stock was changed with save(update_fields=["stock"])': _restock,
        "one of its reviews was approved": _review_approve,
    }

    for scenario, write in writes.items():
        _assert_fresh(
            f"{PRODUCT_PAGE} after {scenario}",
            lambda: client.get(product.get_absolute_url()),
            _committed(django_capture_on_commit_callbacks, partial(write, product)),
        )


@pytest.mark.exercise("04-product-page", budget="expires")
def test_the_cached_product_page_expires(client: Any) -> None:
    [product] = catalog_make(products=1)

    with measured(f"Two GETs of {PRODUCT_PAGE[4:]}", memory=False) as measurement:
        client.get(product.get_absolute_url())
        client.get(product.get_absolute_url())

    assert_within(measurement, keys_expire())


def _caches_down() -> dict[str, Any]:
    """Return the shop's caches with every Redis one pointed at a closed port."""
    caches: dict[str, dict[str, Any]] = copy.deepcopy(settings.CACHES)
    for options in caches.values():
        if "redis" in str(options["BACKEND"]).lower():
            options["LOCATION"] = DOWN_REDIS
    return caches


def _raised_in_shop(error: BaseException) -> str:
    """Return ` — from shop_app/...:line`, the last shop line the error passed."""
    code, place = shop_code(), ""
    traceback = error.__traceback__
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if code.contains(filename):
            place = f" — from {code.relative(filename)}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return place


def _first_difference(fresh: str, served: str) -> str:
    lines = difflib.unified_diff(
        fresh.splitlines(), served.splitlines(), "fresh", "served", n=0, lineterm=""
    )
    changed = [line for line in list(lines)[2:] if line[:1] in ("+", "-")]
    return "\n".join(changed[:6])


@pytest.mark.exercise("04-product-page", budget="outage")
def test_the_product_page_answers_while_redis_is_down(client: Any) -> None:
    [product] = catalog_make(products=1)
    url = product.get_absolute_url()
    budget = "the page answers as usual while the cache is down"

    with override_settings(CACHES=_caches_down()):
        try:
            response = client.get(url)
        except Exception as error:
            raise AssertionError(
                f"{PRODUCT_PAGE} failed while the cache's Redis was unreachable "
                f"at {DOWN_REDIS} (budget: {budget}): {type(error).__name__}: "
                f"{str(error).rstrip('.')}{_raised_in_shop(error)}. A cache only "
                "saves work: let django-redis treat a failed call as a miss with "
                '"OPTIONS": {"IGNORE_EXCEPTIONS": True} on the cache in CACHES, '
                "and log it with DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True."
            ) from error
        served = as_text(response)

    assert response.status_code == 200, (
        f"{PRODUCT_PAGE} answered {response.status_code} with the cache's Redis "
        f"unreachable at {DOWN_REDIS} (budget: {budget})."
    )
    fresh = fresh_render(lambda: client.get(url))
    assert served == fresh, (
        f"{PRODUCT_PAGE} with the cache's Redis unreachable at {DOWN_REDIS} "
        f"differs from a fresh render (budget: {budget}):\n"
        f"{_first_difference(fresh, served)}"
    )
