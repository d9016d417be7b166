"""Read queries for the products' ratings: the best rated of the shop."""

from typing import Any

from django.db.models import Avg, Count, Q

from catalog.models import Product

# The brand index lists this many best rated products, each rated by at least
# this many approved reviews.
TOP_RATED = 10
TOP_RATED_REVIEWS = 3


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
