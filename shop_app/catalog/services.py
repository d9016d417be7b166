"""Writes to the catalog: reviews and product images."""

from __future__ import annotations

from django.core.files import File

from catalog.models import Product, ProductImage, Review
from catalog.thumbnails import thumbnail_make
from customers.models import Customer


def review_create(
    *, product: Product, customer: Customer, rating: int, title: str, body: str
) -> Review:
    """Create an unapproved review of `product`; a moderator approves it later."""
    review = Review(
        product=product, customer=customer, rating=rating, title=title, body=body
    )
    review.full_clean()
    review.save()
    return review


def product_image_create(*, product: Product, image: File[bytes]) -> ProductImage:
    """Store an uploaded image of `product` and make its thumbnail."""
    product_image = ProductImage.objects.create(
        product=product, image=image, position=product.images.count()
    )
    # TODO(lesson 5): the thumbnail is made inside the request, which waits for
    # Pillow; make_thumbnail.delay_on_commit(product_image.pk) hands it to Celery.
    thumbnail_make(product_image=product_image)
    return product_image
