"""Give every trusted test a cache with none of its own prefix's keys in it.

Trusted tests build fresh rows with the same slugs in every run, and a page
cached by an earlier test or an earlier run would be served in their place.
Only the keys under the test settings' own `KEY_PREFIX` are deleted, so a
shop running beside the checker on the same Redis keeps its cache.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

__all__ = ["cache_keys_cleared", "own_keys_delete"]


def own_keys_delete() -> None:
    """Delete the keys of every cache alias that belong to this run's prefix."""
    from django.core.cache import caches

    for cache in caches.all():
        delete_pattern = getattr(cache, "delete_pattern", None)
        if delete_pattern is not None:
            # django-redis prefixes the pattern with KEY_PREFIX and version.
            delete_pattern("*")
        else:
            cache.clear()


@pytest.fixture(autouse=True)
def cache_keys_cleared() -> Iterator[None]:
    """Start and leave each test with none of the run's own cache keys."""
    own_keys_delete()
    yield
    own_keys_delete()
