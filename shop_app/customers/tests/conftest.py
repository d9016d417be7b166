"""Fixtures for these tests: seeded data, a scratch media root, an empty cache."""

from seeding.fixtures import cache_keys_cleared, media_root, tiny_shop

__all__ = ["cache_keys_cleared", "media_root", "tiny_shop"]
