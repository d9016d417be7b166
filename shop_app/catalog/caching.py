"""What the catalog keeps in the cache, under which key, and when it forgets it."""

# TODO(lesson 4): the product page is built from the database on every request
# (product_detail() in catalog/views.py), though every anonymous visitor sees
# the same page. Keep it here, and forget it when the product, its reviews or
# its images change (catalog/signals.py).
