"""Read queries for the brand pages and the SKU lookup."""

from typing import Any

from django.db.models import Avg, Count, Q, QuerySet

from catalog.models import Brand, Product

# The brand index lists this many best rated products, each rated by at least
# this many approved reviews.
TOP_RATED = 10
TOP_RATED_REVIEWS = 3
# The SKU lookup shows at most this many products.
LOOKUP_LIMIT = 20


def brand_list() -> QuerySet[Brand]:
    """Return every brand, by name."""
    return Brand.objects.order_by("name")


def brand_products(*, brand: Brand) -> QuerySet[Product]:
    """Return the active products of `brand`, by name."""
    return brand.products.filter(is_active=True).order_by("name", "id")


def top_rated() -> list[dict[str, Any]]:
    """Return the active products with the best mean approved rating."""
    approved = Q(reviews__is_approved=True)
    rows = (
        Product.objects.filter(is_active=True)
        .annotate(
            rating=Avg("reviews__rating", filter=approved),
            ratings=Count("reviews", filter=approved),
        )
        .filter(ratings__gte=TOP_RATED_REVIEWS)
        .order_by("-rating", "-ratings", "id")
        .values("name", "slug", "rating", "ratings")[:TOP_RATED]
    )
    return [dict(row) for row in rows]


def products_by_sku(*, prefix: str) -> QuerySet[Product]:
    """Return the active products whose SKU starts with `prefix`, in any case."""
    found = Product.objects.filter(is_active=True, sku__istartswith=prefix)
    return found.order_by("sku")[:LOOKUP_LIMIT]
