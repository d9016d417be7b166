"""Pytest fixtures for the shop's tests: seeded data, a scratch media root, no cache."""

from pathlib import Path

import pytest
from django.core.cache import cache
from pytest_django.fixtures import Settings

from seeding.report import SeedReport
from seeding.seed import seed_shop

__all__ = ["cache_keys_cleared", "media_root", "tiny_shop"]


@pytest.fixture
def tiny_shop(db: None) -> SeedReport:
    """Load the tiny dataset, seed 0, into the test database."""
    return seed_shop(scale="tiny", seed=0, progress=False)


@pytest.fixture
def media_root(settings: Settings, tmp_path: Path) -> Path:
    """Point MEDIA_ROOT at a temporary directory."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def cache_keys_cleared() -> None:
    """Delete the test prefix's cache keys before each test."""
    # The seeded rows get the same slugs in every test: a page cached by one
    # test would be served to the next. django-redis (whose cache class the
    # stubs do not know) adds KEY_PREFIX to the pattern itself.
    cache.delete_pattern("*")  # type: ignore[attr-defined]
