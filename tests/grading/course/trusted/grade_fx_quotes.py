"""Trusted tests of the fixture exercise `fx-quotes`: pure Python, no database."""

from decimal import Decimal

import pytest

from catalog.models import Product
from catalog.shipping import shipping_quotes


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
