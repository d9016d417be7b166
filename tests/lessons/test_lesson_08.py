"""Lesson 8's budgets fail when one piece of the reference fix is taken out."""

from __future__ import annotations

import pytest

from tests.lessons.conftest import graded_with_breaks

# The async view awaits the carriers one after another instead of together,
# and a carrier's deadline is lifted.
BREAKS = [
    (
        "shop_app/catalog/shipping.py",
        r"answers = await asyncio\.gather\(\n\s+\*\(\n(\s+quote_or_none\()",
        r"answers = [\n\1",
    ),
    (
        "shop_app/catalog/shipping.py",
        r"(                for carrier in CARRIERS\n)            \)\n        \)",
        r"\1        ]",
    ),
    (
        "shop_app/catalog/shipping.py",
        r"^( +)quote_or_none\(\n",
        r"\1await quote_or_none(\n",
    ),
    (
        "shop_app/catalog/shipping.py",
        r"asyncio\.timeout\(settings\.CARRIERS_TIMEOUT_SECONDS\)",
        "asyncio.timeout(None)",
    ),
]


@pytest.fixture(scope="module")
def broken(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("lesson-08-broken")
    return graded_with_breaks(
        root,
        grade,
        course,
        "08-slow-carriers",
        ["08-concurrent-quotes", "08-slow-carriers"],
        BREAKS,
    )


def test_carriers_awaited_one_after_another_are_never_in_flight_together(broken):
    quotes = broken["08-concurrent-quotes"]

    assert not quotes["in-flight"].passed
    assert "one after another" in quotes["in-flight"].message
    assert "never more than 1 in flight" in quotes["in-flight"].message
    assert quotes["event-loop"].passed
    assert quotes["same-output"].passed


def test_a_carrier_without_a_deadline_holds_the_page_as_long_as_it_is_slow(broken):
    slow = broken["08-slow-carriers"]

    assert not slow["slow"].passed
    assert "the page waited for the slowest carrier" in slow["slow"].message
    assert slow["failing"].passed


@pytest.fixture(scope="module")
def blocking(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("lesson-08-blocking")
    # The async view looks the product up with the synchronous ORM.
    breaks = [
        (
            "shop_app/catalog/views.py",
            r"await selectors\.product_aget\(slug=slug\)",
            "selectors.product_get(slug=slug)",
        )
    ]
    return graded_with_breaks(
        root, grade, course, "08-slow-carriers", ["08-concurrent-quotes"], breaks
    )


def test_a_synchronous_query_in_an_async_view_is_named_where_it_ran(blocking):
    loop = blocking["08-concurrent-quotes"]["event-loop"]

    assert not loop.passed
    assert "answered 500: SynchronousOnlyOperation from" in loop.message
    assert "shop_app/catalog/selectors.py:" in loop.message
    assert "sync_to_async" in loop.message
