"""Make thumbnails of product images with Pillow."""

from io import BytesIO
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from PIL import Image, ImageOps

from catalog.models import ProductImage

THUMBNAIL_SIZE = (200, 200)


def thumbnail_make(*, product_image: ProductImage) -> None:
    """Save a JPEG thumbnail of `product_image.image` into its `thumbnail` field."""
    with product_image.image.open("rb") as source, Image.open(source) as original:
        picture = ImageOps.exif_transpose(original).convert("RGB")
    picture.thumbnail(THUMBNAIL_SIZE)
    buffer = BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    name = f"{PurePosixPath(product_image.image.name or '').stem}-thumb.jpg"
    product_image.thumbnail.save(name, ContentFile(buffer.getvalue()), save=True)
