"""Read queries for the catalog pages and API."""

from django.db.models import QuerySet

from catalog.models import Category, Product, Review


def product_list() -> QuerySet[Product]:
    """Return the active products for the list page, cheapest first."""
    # TODO(lesson 1): the template reads product.category and product.brand per row.
    # TODO(lesson 2): tags, review counts and average ratings are queried per row.
    # TODO(lesson 3): every column is loaded, the large description included.
    return Product.objects.filter(is_active=True).order_by("price", "id")


def product_search(*, term: str) -> QuerySet[Product]:
    """Return the products of the list page whose name contains `term`, or all."""
    products = product_list()
    return products.filter(name__icontains=term) if term else products


def product_get(*, slug: str) -> Product:
    """Return the active product with `slug`, or raise Product.DoesNotExist."""
    return Product.objects.get(slug=slug, is_active=True)


def product_reviews(*, product: Product) -> QuerySet[Review]:
    """Return the approved reviews of `product`, newest first."""
    # TODO(lesson 1): the template reads review.customer.user for every review.
    return product.approved_reviews()


def category_list() -> QuerySet[Category]:
    """Return every category, by name."""
    return Category.objects.order_by("name")


def category_get(*, slug: str) -> Category:
    """Return the category with `slug`, or raise Category.DoesNotExist."""
    return Category.objects.get(slug=slug)


def category_products(*, category: Category) -> QuerySet[Product]:
    """Return the active products of `category`, by name."""
    # TODO(lesson 2): product.approved_reviews() runs .filter() on the related
    # manager for every product, which prefetch_related("reviews") cannot serve.
    return category.products.filter(is_active=True).order_by("name", "id")


def category_product_count(*, category: Category) -> int:
    """Return how many active products `category` has."""
    # TODO(lesson 3): len() loads every product, description included, to count.
    return len(category.products.filter(is_active=True))


def product_api_list() -> QuerySet[Product]:
    """Return the products the API lists, by id."""
    # TODO(lesson 6): the nested serializer queries category, brand, tags, images
    # and reviews once per product.
    return Product.objects.filter(is_active=True).order_by("id")
