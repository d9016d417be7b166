"""Lesson 4's budgets that pass on an uncached shop can still fail: break a piece.

No-stale, expires and outage pass on the naive shop, where nothing is cached.
Here every patch of lessons 1-4 is applied, then one piece of each fix is
taken out on the scratch copy, and the budget that guards it must fail with
a message that says what broke.
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
        "paid was stale after the write: it differs from a fresh, uncached read"
    )
    assert "+++ served after the write" in budget.message
    assert re.search(r"^-\s+'units': \d+", budget.message, re.M), budget.message


def test_without_receivers_the_product_page_shows_the_old_price(broken_outcomes):
    budget = broken_outcomes["04-product-page"]["no-stale"]

    assert not budget.passed
    assert budget.message.startswith(
        "GET /products/<slug>/ after its price was changed with save() was stale"
    )
    assert re.search(r'^\+<p class="price">[\d.]+</p>$', budget.message, re.M)


def test_sales_figures_stored_for_ever_fail_the_expiry_budget(broken_outcomes):
    budget = broken_outcomes["04-sales-dashboard"]["expires"]

    assert not budget.passed
    assert budget.message.startswith(
        "Two calls of sales_bestsellers() and sales_by_category() stored 2 cache "
        "keys that never expire (budget: every cache key has a timeout). "
        "get_or_set(`sales:bestsellers`) (low-level) from shop_app/orders/selectors.py:"
    )
    assert "was written with timeout=None." in budget.message


def test_without_ignored_exceptions_the_product_page_fails_while_redis_is_down(
    broken_outcomes,
):
    budget = broken_outcomes["04-product-page"]["outage"]

    assert not budget.passed
    assert budget.message.startswith(
        "GET /products/<slug>/ failed while the cache's Redis was unreachable at "
        "redis://127.0.0.1:9/0 (budget: the page answers as usual while the cache "
        "is down): ConnectionError: "
    )
    assert "Connection refused" in budget.message
    assert re.search(r"— from shop_app/catalog/views\.py:\d+\.", budget.message)
    assert '"OPTIONS": {"IGNORE_EXCEPTIONS": True}' in budget.message


def test_the_budgets_no_piece_was_taken_from_still_pass(broken_outcomes):
    assert broken_outcomes["04-sales-dashboard"]["warm"].passed
    assert broken_outcomes["04-product-page"]["warm"].passed
    assert broken_outcomes["04-product-page"]["expires"].passed
