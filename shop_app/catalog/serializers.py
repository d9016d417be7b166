"""API representations of the catalog."""

from rest_framework import serializers

from catalog.models import Brand, Category, Product, ProductImage, Tag


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug"]


class BrandSerializer(serializers.ModelSerializer):
    class Meta:
        model = Brand
        fields = ["id", "name", "slug"]


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "slug"]


class ProductImageSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProductImage
        fields = ["id", "image", "thumbnail", "position"]


class ProductSerializer(serializers.ModelSerializer):
    # TODO(lesson 6): lists use this full serializer, nested relations and the
    # large description included; give the list a lean one.
    category = CategorySerializer()
    brand = BrandSerializer()
    tags = TagSerializer(many=True)
    images = ProductImageSerializer(many=True)
    review_count = serializers.SerializerMethodField()
    average_rating = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = [
            "id", "name", "slug", "sku", "price", "stock", "description",
            "category", "brand", "tags", "images", "review_count",
            "average_rating", "created_at", "updated_at",
        ]  # fmt: skip

    def get_review_count(self, product: Product) -> int:
        return product.reviews.filter(is_approved=True).count()

    def get_average_rating(self, product: Product) -> float | None:
        return product.average_rating()
