"""Lesson 11's budgets still fail when a piece of a fix is taken out.

Every patch of lessons 1-11 is applied, then one piece of each capstone fix
is taken out on the scratch copy: the budget that guards it must fail, from
what PostgreSQL and Redis reported under the replayed traffic, naming the
signal.
"""

from __future__ import annotations

import pytest

from tests.lessons.conftest import graded_with_breaks

GRADED = ("11-query-per-row", "11-missing-index", "11-uncached-fragment")
BREAKS = [
    # The categories are read one per product again.
    (
        "shop_app/catalog/browsing.py",
        r'^        \.select_related\("category"\)\n',
        "",
    ),
    # Every review is counted, approved or not.
    (
        "shop_app/catalog/browsing.py",
        r'product=OuterRef\("pk"\), is_approved=True\)',
        'product=OuterRef("pk"))',
    ),
    # The top rated products are cached for ever.
    (
        "shop_app/catalog/ratings.py",
        r"TOP_RATED_KEY, _top_rated_compute, TOP_RATED_SECONDS",
        "TOP_RATED_KEY, _top_rated_compute, None",
    ),
    # The SKU index is on the raw column, which the lookup does not filter on.
    (
        "shop_app/catalog/migrations/0004_product_sku_upper_idx.py",
        r"django\.contrib\.postgres\.indexes\.OpClass\(\n(?:.*\n)*?                \),",
        'fields=["sku"],',
    ),
]


@pytest.fixture(scope="module")
def broken(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("broken-11")
    return graded_with_breaks(
        root, grade, course, "11-uncached-fragment", GRADED, BREAKS
    )


def test_a_category_read_per_product_is_named_with_its_template_line(broken):
    message = broken["11-query-per-row"]["queries"].message

    assert not broken["11-query-per-row"]["queries"].passed
    assert "GET /brands/<slug>/ made" in message, message
    assert "SELECT ... FROM catalog_category WHERE id = #" in message, message
    assert "shop_app/templates/catalog/brand_detail.html:11" in message, message


def test_counting_every_review_changes_what_the_brand_page_shows(broken):
    budget = broken["11-query-per-row"]["same-output"]

    assert not budget.passed
    assert budget.message.startswith("The traffic's GET /brands/<slug>/ pages row ")


def test_an_index_on_the_raw_sku_leaves_the_lookup_scanning_the_catalog(broken):
    budgets = broken["11-missing-index"]

    assert not budgets["plan"].passed
    assert "ran Seq Scan on catalog_product" in budgets["plan"].message
    assert not budgets["buffers"].passed
    assert "pg_stat_statements ranks it" in budgets["buffers"].message
    assert "by shared buffers touched in all" in budgets["buffers"].message
    assert budgets["same-output"].passed


def test_top_rated_products_cached_for_ever_fail_the_expiry_only(broken):
    budgets = broken["11-uncached-fragment"]

    assert budgets["warm"].passed
    assert not budgets["expires"].passed
    assert "top-rated" in budgets["expires"].message, budgets["expires"].message
