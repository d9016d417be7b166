"""Resolve the service URLs: external from the environment, embedded otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from checker.services.layout import Layout

DATABASE_NAME = "shop"
_RESULTS_DB = 3


@dataclass(frozen=True)
class ServiceUrls:
    """The URLs Django, django-redis and Celery connect to."""

    database: str
    redis: str
    broker: str
    external_database: bool
    external_redis: bool
    # Celery's result backend, where task states and return values are kept.
    results: str = ""

    @property
    def needs_embedded(self) -> bool:
        """Return True if any service must be started under `.course/`."""
        return not (self.external_database and self.external_redis)


def service_urls(layout: Layout | None = None) -> ServiceUrls:
    """Read DATABASE_URL, REDIS_URL and CELERY_BROKER_URL, with embedded defaults."""
    layout = layout or Layout.default()
    database = os.environ.get("DATABASE_URL")
    redis = os.environ.get("REDIS_URL")
    # The embedded broker uses Redis database 1 so that clearing the cache
    # (database 0) never drops queued tasks.
    embedded_broker = f"redis+socket://{layout.redis_socket}?virtual_host=1"
    return ServiceUrls(
        database=database or f"postgres://postgres@/{DATABASE_NAME}?host={layout.run}",
        redis=redis or f"unix://{layout.redis_socket}?db=0",
        broker=os.environ.get("CELERY_BROKER_URL") or redis or embedded_broker,
        results=os.environ.get("CELERY_RESULT_BACKEND")
        or _results_url(redis or f"unix://{layout.redis_socket}"),
        external_database=bool(database),
        external_redis=bool(redis),
    )


def _results_url(redis: str) -> str:
    """Return a Celery result backend URL on Redis database 3 of `redis`.

    The cache uses database 0, the broker 1 and the checker's worker reports
    2, so results are never cleared with the cache nor mixed with messages.
    """
    parts = urlsplit(redis)
    if parts.scheme == "unix":
        # Celery spells a Redis Unix socket `redis+socket://` with the
        # database as `virtual_host`.
        return f"redis+socket://{parts.path}?virtual_host={_RESULTS_DB}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "db"])
    return parts._replace(path=f"/{_RESULTS_DB}", query=query).geturl()


def database_url(name: str, *, libpq: bool = False) -> str:
    """Return the course's database URL with another database name.

    With `libpq`, the scheme is `postgresql://`, the one psycopg accepts.
    """
    parts = urlsplit(service_urls().database)._replace(path=f"/{name}")
    return (parts._replace(scheme="postgresql") if libpq else parts).geturl()
