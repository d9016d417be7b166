"""Celery tasks of the catalog."""

from celery import shared_task

from catalog.models import ProductImage
from catalog.thumbnails import thumbnail_make


@shared_task
def make_thumbnail(product_image_id: int) -> None:
    """Make the thumbnail of the product image with `product_image_id`."""
    thumbnail_make(product_image=ProductImage.objects.get(pk=product_image_id))
