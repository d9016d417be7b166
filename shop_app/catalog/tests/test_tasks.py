"""Tests of the catalog tasks' bodies, run in this process."""

import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from catalog.models import Product, ProductImage
from catalog.tasks import make_thumbnail

pytestmark = pytest.mark.usefixtures("tiny_shop")


@pytest.mark.django_db
def test_make_thumbnail_saves_a_jpeg_no_larger_than_200px(media_root):
    picture = io.BytesIO()
    Image.new("RGB", (300, 900), "navy").save(picture, format="PNG")
    product_image = ProductImage(product=Product.objects.get(pk=1), position=9)
    product_image.image.save("tall.png", ContentFile(picture.getvalue()))

    make_thumbnail(product_image.pk)

    product_image.refresh_from_db()
    assert product_image.thumbnail.name == "thumbnails/tall-thumb.jpg"
    with Image.open(media_root / product_image.thumbnail.name) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (67, 200))
