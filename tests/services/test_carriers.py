"""The carriers' service: quotes, slow and failing carriers, requests in flight."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from checker.services.carriers import CARRIERS, CarrierService, quote_compute


@pytest.fixture
def carriers() -> Iterator[CarrierService]:
    with (
        tempfile.TemporaryDirectory() as folder,
        CarrierService(socket=Path(folder) / "c.sock", latency=0.05) as service,
    ):
        yield service


def _client(service: CarrierService) -> httpx.Client:
    transport = httpx.HTTPTransport(uds=str(service.socket))
    return httpx.Client(transport=transport, base_url=service.url)


def _ask(client: httpx.Client, carrier: str) -> httpx.Response:
    return client.get(
        f"/carriers/{carrier}/quote", params={"price": "10", "city": "Oslo"}
    )


def test_a_carrier_answers_its_tariff(carriers):
    with _client(carriers) as client:
        response = _ask(client, "Swiftship")

    assert response.status_code == 200
    assert response.json() == {"carrier": "Swiftship", "price": "7.20", "days": 3}
    assert response.json() == quote_compute(
        carrier="Swiftship", price=Decimal("10"), city="Oslo"
    )


def test_requests_one_after_another_are_never_in_flight_together(carriers):
    mark = carriers.mark()
    with _client(carriers) as client:
        for carrier in CARRIERS:
            _ask(client, carrier)

    assert [r.in_flight for r in carriers.requests(mark)] == [1, 1, 1]


def test_requests_awaited_together_are_in_flight_together(carriers):
    async def together() -> None:
        transport = httpx.AsyncHTTPTransport(uds=str(carriers.socket))
        async with httpx.AsyncClient(
            transport=transport, base_url=carriers.url
        ) as client:
            await asyncio.gather(
                *(
                    client.get(
                        f"/carriers/{c}/quote", params={"price": "1", "city": "x"}
                    )
                    for c in CARRIERS
                )
            )

    mark = carriers.mark()
    asyncio.run(together())

    assert max(r.in_flight for r in carriers.requests(mark)) == 3


def test_a_slow_carrier_answers_late_and_a_failing_one_answers_503(carriers):
    carriers.configure(slow={"Parcelpost": 0.3}, failing=("Cargoline",))
    with _client(carriers) as client:
        started = time.monotonic()
        slow = _ask(client, "Parcelpost")
        late = time.monotonic() - started
        failing = _ask(client, "Cargoline")

    assert slow.status_code == 200 and late >= 0.3
    assert failing.status_code == 503


def test_an_unknown_carrier_or_a_quote_without_a_price_is_refused(carriers):
    with _client(carriers) as client:
        unknown = _ask(client, "Pigeonpost")
        bare = client.get("/carriers/Swiftship/quote")

    assert unknown.status_code == 404
    assert bare.status_code == 400
