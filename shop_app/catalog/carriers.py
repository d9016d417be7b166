"""HTTP clients for the carriers' quote service, configured from the settings."""

import httpx
from django.conf import settings


def carriers_client(*, timeout: float | None) -> httpx.Client:
    """Return a client for the carriers' service, over its Unix socket if set."""
    transport = (
        httpx.HTTPTransport(uds=settings.CARRIERS_SOCKET)
        if settings.CARRIERS_SOCKET
        else None
    )
    return httpx.Client(
        base_url=settings.CARRIERS_URL, transport=transport, timeout=timeout
    )


def carriers_async_client(*, timeout: float | None) -> httpx.AsyncClient:
    """Return an async client for the carriers' service, over its socket if set."""
    transport = (
        httpx.AsyncHTTPTransport(uds=settings.CARRIERS_SOCKET)
        if settings.CARRIERS_SOCKET
        else None
    )
    return httpx.AsyncClient(
        base_url=settings.CARRIERS_URL, transport=transport, timeout=timeout
    )
