"""Trusted tests of the fixture exercise `fx-list`: GET /products/."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from seeding.seed import seed_shop

from catalog.models import Product

QUERY_BUDGET = 100
# A marker the grading tests look for: this source must never reach a student.
TRUSTED_SOURCE_MARKER = "trusted-source-never-shown"


@pytest.fixture
def seeded(db):
    seed_shop(scale="tiny", seed=0, progress=False)


@pytest.mark.exercise("fx-list", budget="queries")
def test_product_list_queries(seeded, client, record_property):
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/products/")
    count = len(captured.captured_queries)
    record_property("queries", count)
    record_property("status", response.status_code)
    assert count <= QUERY_BUDGET, (
        f"GET /products/ made {count} queries (budget: at most {QUERY_BUDGET}). "
        'Try select_related("category", "brand").'
    )


@pytest.mark.exercise("fx-list", budget="same-output")
def test_product_list_shows_the_same_products(seeded, client, record_property):
    page = client.get("/products/").content.decode()
    shown = re.findall(r'<tr class="product">\s*<td><a href="[^"]*">([^<]*)</a>', page)
    expected = list(
        Product.objects.filter(is_active=True)
        .order_by("price", "id")
        .values_list("name", flat=True)[:100]
    )
    record_property("products_shown", len(shown))
    assert shown == expected, (
        f"GET /products/ shows {len(shown)} products; expected the "
        f"{len(expected)} active products, cheapest first."
    )
