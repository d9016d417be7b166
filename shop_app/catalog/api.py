"""API views of the catalog."""

from django.db.models import QuerySet
from rest_framework import viewsets

from catalog import selectors
from catalog.models import Product
from catalog.serializers import ProductSerializer


class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """List the active products, or show one by slug."""

    serializer_class = ProductSerializer
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Product]:
        return selectors.product_api_list()
