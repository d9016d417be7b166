"""A private `.course/` per test, so the learner's own servers are never touched."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from checker.services.layout import Layout
from checker.services.postgres import EmbeddedPostgres
from checker.services.redis import EmbeddedRedis


@pytest.fixture(autouse=True)
def _embedded_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ignore external service URLs: these tests are about the embedded servers."""
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def layout() -> Iterator[Layout]:
    """Yield a layout under a fresh folder of /tmp, removed afterwards.

    Not under pytest's own temporary folder: every pytest run (the checks this
    suite starts included) resets that folder to mode 0700, which would lock
    out the PostgreSQL server's system user halfway through a test.
    """
    home = Path(tempfile.mkdtemp(prefix="course-services-"))
    yield Layout(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def postgres(layout: Layout) -> Iterator[EmbeddedPostgres]:
    """Yield an embedded PostgreSQL in its own folder; stop it afterwards."""
    server = EmbeddedPostgres(layout)
    yield server
    server.stop()


@pytest.fixture
def redis_server(layout: Layout) -> Iterator[EmbeddedRedis]:
    """Yield an embedded Redis in its own folder; stop it afterwards."""
    server = EmbeddedRedis(layout)
    yield server
    server.stop()
