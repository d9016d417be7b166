"""Read queries for the brand pages and the SKU lookup."""

from django.db.models import QuerySet

from catalog.models import Brand, Product

# The SKU lookup shows at most this many products.
LOOKUP_LIMIT = 20


def brand_list() -> QuerySet[Brand]:
    """Return every brand, by name."""
    return Brand.objects.order_by("name")


def brand_products(*, brand: Brand) -> QuerySet[Product]:
    """Return the active products of `brand`, by name."""
    return brand.products.filter(is_active=True).order_by("name", "id")


def products_by_sku(*, prefix: str) -> QuerySet[Product]:
    """Return the active products whose SKU starts with `prefix`, in any case."""
    found = Product.objects.filter(is_active=True, sku__istartswith=prefix)
    return found.order_by("sku")[:LOOKUP_LIMIT]
