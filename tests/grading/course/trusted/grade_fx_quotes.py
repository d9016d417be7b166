"""Trusted tests of the fixture exercise `fx-quotes`: pure Python, no database."""

from decimal import Decimal

import pytest

import catalog.shipping
from catalog.models import Product
from catalog.shipping import shipping_quotes

# The fixture course runs no carriers' service: each carrier answers here.
PRICES = {"Parcelpost": "9.00", "Swiftship": "6.00", "Cargoline": "8.00"}


@pytest.fixture(autouse=True)
def carriers(monkeypatch):
    def quote_fetch(*, client, carrier, product, city):
        return catalog.shipping.Quote(carrier, Decimal(PRICES[carrier]), 3)

    monkeypatch.setattr(catalog.shipping, "quote_fetch", quote_fetch)


@pytest.mark.exercise("fx-quotes", budget="count")
def test_every_carrier_quotes(record_property):
    quotes = shipping_quotes(product=Product(price=Decimal("100.00")), city="Lisbon")
    record_property("quotes", len(quotes))
    assert len(quotes) == 3, f"shipping_quotes() returned {len(quotes)} quotes, not 3."


@pytest.mark.exercise("fx-quotes", budget="cheapest-first")
def test_quotes_come_cheapest_first(record_property):
    quotes = shipping_quotes(product=Product(price=Decimal("100.00")), city="Lisbon")
    prices = [str(quote.price) for quote in quotes]
    record_property("prices", prices)
    assert prices == sorted(prices, key=Decimal), (
        f"shipping_quotes() returned prices {prices}, not cheapest first."
    )
