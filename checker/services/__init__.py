"""Start, stop and report the PostgreSQL and Redis servers the course needs."""

from __future__ import annotations

import os
import sys

from checker.services.base import ServiceError, Status
from checker.services.carrier_daemon import BackgroundCarriers
from checker.services.databases import create_database, drop_database
from checker.services.layout import Layout
from checker.services.postgres import EmbeddedPostgres
from checker.services.prometheus import prometheus_stop
from checker.services.redis import EmbeddedRedis
from checker.services.urls import ServiceUrls, database_url, service_urls

__all__ = [
    "ServiceError",
    "ServiceUrls",
    "Status",
    "create_database",
    "database_url",
    "drop_database",
    "embedded_services",
    "ensure_up",
    "ensure_up_or_exit",
    "service_urls",
    "services_down",
    "services_status",
]


def embedded_services(
    layout: Layout | None = None,
) -> list[EmbeddedPostgres | EmbeddedRedis]:
    """Return the embedded servers needed, skipping those set to external URLs."""
    layout = layout or Layout.default()
    urls = service_urls(layout)
    services: list[EmbeddedPostgres | EmbeddedRedis] = []
    if not urls.external_database:
        services.append(EmbeddedPostgres(layout))
    if not urls.external_redis:
        services.append(EmbeddedRedis(layout))
    return services


def ensure_up(layout: Layout | None = None, *, upgrade: bool = False) -> list[str]:
    """Start every embedded server that is not running; return what was done.

    With `upgrade`, a PostgreSQL cluster of another major version (an older
    embedded server's) is moved aside for a new one instead of refused.
    """
    messages: list[str] = []
    for service in embedded_services(layout):
        if isinstance(service, EmbeddedPostgres):
            messages += service.start(upgrade=upgrade)
        else:
            messages += service.start()
    return messages


def services_down(layout: Layout | None = None) -> list[str]:
    """Stop every embedded server; return what was done."""
    messages = BackgroundCarriers(layout).stop()
    messages += prometheus_stop((layout or Layout.default()).home / "prometheus")
    for service in reversed(embedded_services(layout)):
        messages += service.stop()
    return messages


def services_status(layout: Layout | None = None) -> list[Status]:
    """Report every embedded server."""
    return [service.status() for service in embedded_services(layout)]


def ensure_up_or_exit(layout: Layout | None = None, *, carriers: bool = False) -> None:
    """Start what is needed and say so; on failure print why and exit 1.

    With `carriers`, the carriers' quote service too, unless the environment
    points the shop at other carriers (CARRIERS_URL or CARRIERS_SOCKET).
    """
    try:
        messages = ensure_up(layout)
        if carriers and not {"CARRIERS_URL", "CARRIERS_SOCKET"} & set(os.environ):
            messages += BackgroundCarriers(layout).start()
    except ServiceError as error:
        sys.stderr.write(f"error: {error}\n")
        raise SystemExit(1) from None
    for message in messages:
        sys.stderr.write(f"{message}\n")
