"""Shipping quotes from the carriers, each one an HTTP round trip."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from catalog.carriers import carriers_client
from catalog.models import Product

CARRIERS = ("Parcelpost", "Swiftship", "Cargoline")


@dataclass(frozen=True)
class Quote:
    """One carrier's price and delivery time for a product."""

    carrier: str
    price: Decimal
    days: int


def quote_from(answer: dict[str, Any]) -> Quote:
    """Return the quote a carrier's JSON answer holds."""
    return Quote(
        carrier=answer["carrier"], price=Decimal(answer["price"]), days=answer["days"]
    )


def quote_fetch(
    *, client: httpx.Client, carrier: str, product: Product, city: str
) -> Quote:
    """Ask `carrier` to quote shipping `product` to `city`."""
    response = client.get(
        f"/carriers/{carrier}/quote", params={"price": str(product.price), "city": city}
    )
    response.raise_for_status()
    return quote_from(response.json())


def shipping_quotes(*, product: Product, city: str) -> list[Quote]:
    """Return every carrier's quote for shipping `product` to `city`, cheapest first."""
    # TODO(lesson 8): the carriers are asked one after another, so the page waits
    # for the sum of their latencies; an async view can await them together.
    # TODO(lesson 8): no timeout, and one carrier's error fails the whole page.
    with carriers_client(timeout=None) as client:
        quotes = [
            quote_fetch(client=client, carrier=carrier, product=product, city=city)
            for carrier in CARRIERS
        ]
    return sorted(quotes, key=lambda quote: quote.price)
