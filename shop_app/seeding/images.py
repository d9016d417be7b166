"""Placeholder pictures for the seeded product images.

The seed gives every product `images_per_product` image rows; they share a
few pictures drawn here, so the product pages show images without a seed of
millions of rows writing as many files.
"""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw

PLACEHOLDERS = 8
SIZE = (400, 300)


def placeholder_path(number: int) -> str:
    """Return the storage path of placeholder picture `number`."""
    return f"products/placeholder-{number}.jpg"


def _picture(number: int) -> bytes:
    hue = 255 * number // PLACEHOLDERS
    image = Image.new("HSV", SIZE, (hue, 90, 220)).convert("RGB")
    draw = ImageDraw.Draw(image)
    width, height = SIZE
    draw.rectangle(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill="white"
    )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def placeholders_write() -> int:
    """Write the placeholder pictures that storage lacks; return how many."""
    written = 0
    for number in range(PLACEHOLDERS):
        path = placeholder_path(number)
        if not default_storage.exists(path):
            default_storage.save(path, ContentFile(_picture(number)))
            written += 1
    return written
