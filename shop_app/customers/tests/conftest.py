"""Fixtures for these tests: seeded data, a scratch media root, an empty cache."""

import pytest
from django.core.cache import cache
from seeding.fixtures import media_root, tiny_shop

__all__ = ["cache_keys_cleared", "media_root", "tiny_shop"]


@pytest.fixture(autouse=True)
def cache_keys_cleared() -> None:
    """Delete the test prefix's cache keys before each test."""
    # The seeded rows get the same slugs in every test: a page cached by one
    # test would be served to the next. django-redis adds KEY_PREFIX itself.
    cache.delete_pattern("*")
