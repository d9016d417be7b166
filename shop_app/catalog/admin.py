"""Admin of the catalog."""

from django.contrib import admin

from catalog.models import Brand, Category, Product, ProductImage, Review, Tag


@admin.register(Category, Brand, Tag)
class NamedAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    # TODO(lesson 1): category and brand are fetched once per row of the
    # changelist; list_select_related fetches them with the products.
    list_display = ["name", "sku", "category", "brand", "price", "stock", "is_active"]
    list_filter = ["is_active", "category"]
    search_fields = ["name", "sku"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["tags"]
    inlines = [ProductImageInline]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    # TODO(lesson 1): product, customer and the customer's user are fetched once
    # per row of the changelist.
    list_display = [
        "title",
        "product",
        "customer",
        "rating",
        "is_approved",
        "created_at",
    ]
    list_filter = ["is_approved", "rating"]
    raw_id_fields = ["product", "customer"]
