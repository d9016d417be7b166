"""Tests of the order services."""

from decimal import Decimal

import pytest

from catalog.models import Product
from customers.models import Customer
from orders.services import order_create

pytestmark = pytest.mark.usefixtures("tiny_shop")


@pytest.mark.django_db
def test_order_create_prices_the_lines_and_totals_them():
    first, second = Product.objects.order_by("id")[:2]

    order = order_create(
        customer=Customer.objects.get(pk=1), lines=[(first, 2), (second, 1)]
    )

    order.refresh_from_db()
    assert order.status == "pending"
    assert order.total == 2 * first.price + second.price
    assert [(item.product, item.unit_price) for item in order.items.order_by("id")] == [
        (first, first.price),
        (second, second.price),
    ]


@pytest.mark.django_db
def test_order_create_refuses_an_empty_order():
    with pytest.raises(ValueError) as error:
        order_create(customer=Customer.objects.get(pk=1), lines=[])

    assert str(error.value) == "an order needs at least one line"
    assert Customer.objects.get(pk=1).orders.filter(total=Decimal(0)).count() == 0
