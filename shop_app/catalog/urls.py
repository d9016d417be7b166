"""URLs of the catalog pages."""

from django.urls import path

from catalog import browsing_views, views

app_name = "catalog"

urlpatterns = [
    path("products/", views.product_list, name="product_list"),
    path("products/<slug:slug>/", views.product_detail, name="product_detail"),
    path(
        "products/<slug:slug>/shipping/",
        views.product_shipping,
        name="product_shipping",
    ),
    path(
        "products/<slug:slug>/images/upload/",
        views.product_image_upload,
        name="product_image_upload",
    ),
    path("categories/", views.category_index, name="category_index"),
    path("categories/<slug:slug>/", views.category_detail, name="category_detail"),
    path("brands/", browsing_views.brand_index, name="brand_index"),
    path("brands/<slug:slug>/", browsing_views.brand_detail, name="brand_detail"),
    path("lookup/", browsing_views.product_lookup, name="product_lookup"),
]
