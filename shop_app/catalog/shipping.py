"""Shipping quotes from the carriers, each one a slow network round trip."""

import time
from dataclasses import dataclass
from decimal import Decimal

from catalog.models import Product

CARRIERS = ("Parcelpost", "Swiftship", "Cargoline")
# Stands in for the round trip of an HTTP call to the carrier's API.
CARRIER_LATENCY_SECONDS = 0.02


@dataclass(frozen=True)
class Quote:
    """One carrier's price and delivery time for a product."""

    carrier: str
    price: Decimal
    days: int


def quote_fetch(*, carrier: str, product: Product, city: str) -> Quote:
    """Ask `carrier` to quote shipping `product` to `city`."""
    time.sleep(CARRIER_LATENCY_SECONDS)
    rank = CARRIERS.index(carrier)
    # A made-up but stable tariff: a base fee per carrier plus 2% of the price.
    base = Decimal(4 + 2 * rank) + Decimal(len(city) % 3)
    price = (base + product.price * Decimal("0.02")).quantize(Decimal("0.01"))
    return Quote(carrier=carrier, price=price, days=5 - 2 * rank + len(city) % 2)


def shipping_quotes(*, product: Product, city: str) -> list[Quote]:
    """Return every carrier's quote for shipping `product` to `city`, cheapest first."""
    # TODO(lesson 8): the carriers are asked one after another, so the page waits
    # for the sum of their latencies; an async view can await them together.
    quotes = [
        quote_fetch(carrier=carrier, product=product, city=city) for carrier in CARRIERS
    ]
    return sorted(quotes, key=lambda quote: quote.price)
