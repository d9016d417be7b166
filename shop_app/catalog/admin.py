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
    # TODO(lesson 1): the category and brand columns fetch them once per row;
    # list_select_related fetches them with the products.
    list_display = [
        "name", "sku", "category_name", "brand_name", "price", "stock", "is_active",
    ]  # fmt: skip
    list_filter = ["is_active", "category"]
    search_fields = ["name", "sku"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["tags"]
    inlines = [ProductImageInline]

    @admin.display(description="category", ordering="category__name")
    def category_name(self, product: Product) -> str:
        return product.category.name

    @admin.display(description="brand", ordering="brand__name")
    def brand_name(self, product: Product) -> str:
        return product.brand.name


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    # TODO(lesson 1): the product and reviewer columns fetch the product, the
    # customer and its user once per row; list_select_related fetches them.
    list_display = [
        "title", "product_name", "reviewer", "rating", "is_approved", "created_at",
    ]  # fmt: skip
    list_filter = ["is_approved", "rating"]
    raw_id_fields = ["product", "customer"]

    @admin.display(description="product", ordering="product__name")
    def product_name(self, review: Review) -> str:
        return review.product.name

    @admin.display(ordering="customer__user__username")
    def reviewer(self, review: Review) -> str:
        return review.customer.user.username
