"""Lesson 6's budgets fail when one piece of the reference fix is taken out."""

from __future__ import annotations

import pytest

from tests.lessons.conftest import graded_with_breaks

# The orders fall back to the default numbered pages, whose maximum is lifted,
# and the product list counts each product's approved reviews with a query of
# its own, as the naive serializer did.
BREAKS = [
    ("shop_app/orders/api.py", r"^\s+pagination_class = .*\n", ""),
    ("shop_app/config/pagination.py", r"max_page_size = 100", "max_page_size = 10_000"),
    (
        "shop_app/catalog/serializers.py",
        r"^    review_count = serializers\.IntegerField\(\)$",
        "    review_count = serializers.SerializerMethodField()\n\n"
        "    def get_review_count(self, product):\n"
        "        return product.reviews.filter(is_approved=True).count()\n",
    ),
]


# The orders are paged by offset without a count: no COUNT(*), but every page
# reads the rows before it.
OFFSET_PAGES = [
    (
        "shop_app/config/pagination.py",
        r"^class OrderCursorPagination\(CursorPagination\):$",
        "from rest_framework.pagination import LimitOffsetPagination\n\n\n"
        "class OrderCursorPagination(LimitOffsetPagination):\n"
        "    default_limit = 50\n\n"
        "    def get_count(self, queryset):\n"
        "        return 10**9\n",
    ),
]


@pytest.fixture(scope="module")
def broken(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("lesson-06-broken")
    return graded_with_breaks(
        root, grade, course, "06-lean-lists", ["06-pagination", "06-lean-lists"], BREAKS
    )


def test_a_page_size_the_client_can_lift_is_not_bounded(broken):
    bounded = broken["06-pagination"]["bounded"]

    assert not bounded.passed
    assert "returned 130 products in one response" in bounded.message


def test_numbered_pages_of_orders_repeat_rows_as_orders_arrive(broken):
    walk = broken["06-pagination"]["walk"]

    assert not walk.passed
    assert "saw 6 orders twice" in walk.message
    assert "Use CursorPagination" in walk.message


def test_numbered_pages_of_orders_count_the_table_on_every_page(broken):
    deep = broken["06-pagination"]["deep-page"]

    assert not deep.passed
    assert "SELECT COUNT(*) AS __count FROM orders_order" in deep.message


def test_a_list_field_read_through_a_relation_queries_per_row(broken):
    lean = broken["06-lean-lists"]

    assert not lean["product-queries"].passed
    assert "via Product.reviews" in lean["product-queries"].message
    assert lean["order-queries"].passed
    assert lean["bytes"].passed


@pytest.fixture(scope="module")
def offset_pages(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("lesson-06-offset")
    graded = graded_with_breaks(
        root, grade, course, "06-pagination", ["06-pagination"], OFFSET_PAGES
    )
    return graded["06-pagination"]


def test_offset_pages_without_a_count_touch_more_buffers_deep_down(offset_pages):
    deep = offset_pages["deep-page"]

    assert not deep.passed
    assert "shared buffers for a page 3,500 deep" in deep.message
    assert "against" in deep.message
    assert "shared buffers for the first page" in deep.message
    small, deeper = deep.properties["buffers"][:2]
    assert deeper > small * 2


def test_cursor_pages_touch_as_many_buffers_deep_down_and_on_twice_the_orders(
    grade, course, tmp_path_factory
):
    root = tmp_path_factory.mktemp("lesson-06-cursor")
    solved = graded_with_breaks(root, grade, course, "06-pagination", ["06-pagination"])
    deep = solved["06-pagination"]["deep-page"]

    assert deep.passed, deep.message
    assert deep.properties["depths"] == [0, 3_500, 0, 3_500]
