"""Tests of the brand pages and the SKU lookup."""

import pytest
from django.db.models import Avg, Count, Q

from catalog.models import Brand, Product

pytestmark = [pytest.mark.usefixtures("tiny_shop"), pytest.mark.django_db]


def test_brand_index_lists_every_brand_and_the_best_rated_products(client):
    approved = Q(reviews__is_approved=True)
    best = (
        Product.objects.filter(is_active=True)
        .annotate(
            rating=Avg("reviews__rating", filter=approved),
            n=Count("reviews", filter=approved),
        )
        .filter(n__gte=3)
        .order_by("-rating", "-n", "id")
        .first()
    )

    response = client.get("/brands/")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<li class="brand">') == Brand.objects.count()
    assert best is not None and html.index(best.name) > html.index("Top rated")
    assert len(response.context["top_rated"]) <= 10


def test_brand_page_shows_its_active_products_by_name(client):
    brand = Brand.objects.annotate(n=Count("products")).order_by("-n").first()

    response = client.get(f"/brands/{brand.slug}/")

    products = list(brand.products.filter(is_active=True).order_by("name", "id"))
    assert response.status_code == 200
    assert list(response.context["products"]) == products
    assert client.get("/brands/no-such-brand/").status_code == 404


def test_sku_lookup_finds_active_products_by_the_start_of_their_sku_in_any_case(
    client,
):
    product = Product.objects.filter(is_active=True).order_by("id").first()
    prefix = product.sku[:-1].lower()

    response = client.get("/lookup/", {"sku": prefix})

    found = list(response.context["products"])
    assert response.status_code == 200
    assert product in found
    assert all(p.sku.upper().startswith(prefix.upper()) and p.is_active for p in found)
    assert [p.sku for p in found] == sorted(p.sku for p in found)


def test_an_empty_sku_lookup_shows_the_form_only(client):
    response = client.get("/lookup/", {"sku": "  "})

    assert response.status_code == 200
    assert response.context["products"] == []
    assert '<tr class="product">' not in response.content.decode()
