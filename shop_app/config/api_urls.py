"""The shop's API: read-only products and orders."""

from rest_framework.routers import DefaultRouter

from catalog.api import ProductViewSet
from orders.api import OrderViewSet

router = DefaultRouter()
router.register("products", ProductViewSet, basename="product")
router.register("orders", OrderViewSet, basename="order")

urlpatterns = router.urls
