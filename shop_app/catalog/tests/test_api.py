"""Tests of the product API."""

import pytest
from django.db.models import Count, Q

from catalog.models import Product

pytestmark = pytest.mark.usefixtures("tiny_shop")


@pytest.mark.django_db
def test_product_list_returns_every_active_product_by_id(client):
    response = client.get("/api/products/")

    expected = Product.objects.filter(is_active=True).order_by("id")
    assert response.status_code == 200
    assert [item["slug"] for item in response.json()] == [p.slug for p in expected]


@pytest.mark.django_db
def test_product_detail_nests_category_brand_tags_images_and_reviews(client):
    product = (
        Product.objects.filter(is_active=True)
        .annotate(approved=Count("reviews", filter=Q(reviews__is_approved=True)))
        .order_by("id")
        .first()
    )

    data = client.get(f"/api/products/{product.slug}/").json()

    assert data["name"] == product.name
    assert data["price"] == str(product.price)
    assert data["category"] == {
        "id": product.category.pk,
        "name": product.category.name,
        "slug": product.category.slug,
    }
    assert data["brand"]["name"] == product.brand.name
    assert sorted(tag["name"] for tag in data["tags"]) == sorted(
        product.tags.values_list("name", flat=True)
    )
    assert len(data["images"]) == 2
    assert data["review_count"] == product.approved
    assert data["average_rating"] == pytest.approx(product.average_rating())
