"""Resolve the service URLs: external from the environment, embedded otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from checker.services.layout import Layout

DATABASE_NAME = "shop"


@dataclass(frozen=True)
class ServiceUrls:
    """The URLs Django, django-redis and Celery connect to."""

    database: str
    redis: str
    broker: str
    external_database: bool
    external_redis: bool

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
        external_database=bool(database),
        external_redis=bool(redis),
    )


def database_url(name: str, *, libpq: bool = False) -> str:
    """Return the course's database URL with another database name.

    With `libpq`, the scheme is `postgresql://`, the one psycopg accepts.
    """
    parts = urlsplit(service_urls().database)._replace(path=f"/{name}")
    return (parts._replace(scheme="postgresql") if libpq else parts).geturl()
