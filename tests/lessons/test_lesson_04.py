"""Lesson 4's budgets that guard a fix can still fail: break a piece of it.

No-stale and outage pass on the naive shop, where nothing is cached, and
expires fails there only because nothing is written. Here every patch of
lessons 1-4 is applied, then one piece of each fix is taken out on the
scratch copy, and the budget that guards it must fail with a message that
says what broke, from what the database and the run's Redis say. A page kept
in the shop's own memory earns no warm hit: hits are the ones Redis counted.
"""

from __future__ import annotations

import re

import pytest

from tests.lessons.conftest import graded_with_breaks

GRADED = ("04-sales-dashboard", "04-product-page")
# Each edit takes one piece out of a lesson 4 patch: (file, pattern, replacement).
BREAKS = [
    # No receiver is connected: nothing deletes the cached figures or pages.
    ("shop_app/orders/signals.py", r"^@receiver\(.*\)\n", ""),
    ("shop_app/catalog/signals.py", r"^@receiver\(.*\)\n", ""),
    # The sales figures are stored for ever.
    ("shop_app/orders/selectors.py", r"^SALES_TIMEOUT = .*$", "SALES_TIMEOUT = None"),
    # A cache error reaches the view.
    (
        "shop_app/config/settings/base.py",
        r'"OPTIONS": \{"IGNORE_EXCEPTIONS": True\},',
        "",
    ),
]


@pytest.fixture(scope="module")
def broken_outcomes(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("broken-04")
    return graded_with_breaks(root, grade, course, "04-product-page", GRADED, BREAKS)


def test_without_receivers_the_sales_figures_are_stale_and_the_diff_shows_it(
    broken_outcomes,
):
    budget = broken_outcomes["04-sales-dashboard"]["no-stale"]

    assert not budget.passed
    assert budget.message.startswith(
        "sales_bestsellers() and sales_by_category() after a pending order was "
        "paid was stale after the write: it differs from what the database says "
        "(budget: no stale reads after a write).\n--- the database\n"
        "+++ served after the write\n"
    )
    bestseller = r"\('bestseller', 'Product \d+', 'product-\d+', '\d+', '[\d.]+'\)"
    assert re.search(rf"^-{bestseller}$", budget.message, re.M), budget.message
    assert re.search(rf"^\+{bestseller}$", budget.message, re.M), budget.message


def test_without_receivers_the_product_page_shows_the_old_price(broken_outcomes):
    budget = broken_outcomes["04-product-page"]["no-stale"]

    assert not budget.passed
    assert budget.message.startswith(
        "GET /products/<slug>/ after its price was changed with save() was stale "
        "after the write: it differs from what the database says"
    )
    assert re.search(r"^-\('price', '[\d.]+'\)$", budget.message, re.M)
    assert re.search(r"^\+\('price', '[\d.]+'\)$", budget.message, re.M)


def test_sales_figures_stored_for_ever_fail_the_expiry_budget(broken_outcomes):
    budget = broken_outcomes["04-sales-dashboard"]["expires"]

    assert not budget.passed
    # The keys and their lifetimes are the server's; the shop's own report
    # would only lend the method and line (get_or_set from selectors.py).
    assert budget.message.startswith(
        "Two calls of sales_bestsellers() and sales_by_category() stored 2 cache "
        "keys that never expire (budget: every cache key has a timeout). "
    )
    assert re.search(
        r"\. (get_or_set|set)\(`sales:bestsellers`\) \(low-level\)"
        r"( from shop_app/orders/selectors\.py:\d+)? was written with timeout=None\.",
        budget.message,
    ), budget.message


def test_without_ignored_exceptions_the_product_page_fails_while_redis_is_down(
    broken_outcomes,
):
    budget = broken_outcomes["04-product-page"]["outage"]

    assert not budget.passed
    assert budget.message.startswith(
        "GET /products/<slug>/ failed while the cache's Redis refused every "
        "connection (budget: the page answers as usual while the cache is down): "
        "ConnectionError: "
    )
    assert "Connection refused" in budget.message
    assert re.search(r"— from shop_app/catalog/caching\.py:\d+\.", budget.message)
    assert '"OPTIONS": {"IGNORE_EXCEPTIONS": True}' in budget.message


def test_the_budgets_no_piece_was_taken_from_still_pass(broken_outcomes):
    assert broken_outcomes["04-sales-dashboard"]["warm"].passed
    assert broken_outcomes["04-product-page"]["warm"].passed
    assert broken_outcomes["04-product-page"]["expires"].passed


# The product page kept in the shop process's own memory: the view still asks
# Redis, which never holds the page, so Redis counts no hit.
IN_MEMORY = [
    (
        "shop_app/catalog/caching.py",
        r"^PRODUCT_PAGE_TIMEOUT = .*$",
        r"\g<0>\n_PAGES: dict = {}",
    ),
    (
        "shop_app/catalog/caching.py",
        r"= cache\.get\(product_page_key\(slug\)\)$",
        "= cache.get(product_page_key(slug)) or _PAGES.get(slug)",
    ),
    (
        "shop_app/catalog/caching.py",
        r"^( +)cache\.set\(product_page_key\(slug\), content, .*\)$",
        r"\1_PAGES[slug] = content",
    ),
]


@pytest.fixture(scope="module")
def in_memory_outcomes(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("in-memory-04")
    return graded_with_breaks(
        root, grade, course, "04-product-page", ["04-product-page"], IN_MEMORY
    )


def test_a_page_kept_in_the_process_earns_no_hit_redis_did_not_count(
    in_memory_outcomes,
):
    budgets = in_memory_outcomes["04-product-page"]

    assert not budgets["warm"].passed
    assert budgets["warm"].message.startswith(
        "The second GET /products/<slug>/ made 0 queries with 0 cache hits "
        "(budget: 0 queries once the cache is warm). Nothing was served from the "
        "cache."
    )
    assert not budgets["expires"].passed
    assert budgets["expires"].message.startswith(
        "Two GETs of /products/<slug>/ wrote nothing to the cache (budget: every "
        "cache key has a timeout)"
    )
