"""Fixtures for these tests: seeded data and a scratch media root."""

from seeding.fixtures import media_root, tiny_shop

__all__ = ["media_root", "tiny_shop"]
