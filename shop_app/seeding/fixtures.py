"""Pytest fixtures that give the shop's tests seeded data and a scratch media root."""

from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from seeding.report import SeedReport
from seeding.seed import seed_shop

__all__ = ["media_root", "tiny_shop"]


@pytest.fixture
def tiny_shop(db: None) -> SeedReport:
    """Load the tiny dataset, seed 0, into the test database."""
    return seed_shop(scale="tiny", seed=0, progress=False)


@pytest.fixture
def media_root(settings: Settings, tmp_path: Path) -> Path:
    """Point MEDIA_ROOT at a temporary directory."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path
