"""A private `.course/` per test, so the learner's own servers are never touched."""

from collections.abc import Iterator

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
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """Return a layout under a short temporary folder."""
    return Layout(tmp_path_factory.mktemp("course"))


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
