"""Fixtures for these tests: seeded data, a scratch media root, an empty cache."""

import tempfile
from pathlib import Path

import pytest
from seeding.fixtures import cache_keys_cleared, media_root, tiny_shop

from checker.services.carriers import CarrierService

__all__ = ["cache_keys_cleared", "carriers", "media_root", "tiny_shop"]


@pytest.fixture
def carriers(settings):
    """Serve the carriers' quote service on a socket of its own for one test."""
    with tempfile.TemporaryDirectory() as folder:
        socket = Path(folder) / "carriers.sock"
        settings.CARRIERS_SOCKET = str(socket)
        with CarrierService(socket=socket, latency=0.01) as service:
            yield service
