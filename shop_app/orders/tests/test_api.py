"""Tests of the order API."""

import pytest
from django.contrib.auth import get_user_model

from orders.models import Order

pytestmark = pytest.mark.usefixtures("tiny_shop")


@pytest.mark.django_db
def test_staff_list_every_order_newest_id_first_with_items(client):
    client.force_login(get_user_model().objects.get(username="admin"))

    data = client.get("/api/orders/").json()

    assert [order["id"] for order in data] == list(
        Order.objects.order_by("-id").values_list("id", flat=True)
    )
    assert sum(len(order["items"]) for order in data) == 200


@pytest.mark.django_db
def test_order_detail_nests_customer_and_items_with_products(client):
    client.force_login(get_user_model().objects.get(username="admin"))
    order = Order.objects.get(pk=1)

    data = client.get("/api/orders/1/").json()

    assert data["total"] == str(order.total)
    assert data["customer"]["username"] == order.customer.user.username
    items = order.items.order_by("id")
    assert [(item["product"]["sku"], item["quantity"]) for item in data["items"]] == [
        (item.product.sku, item.quantity) for item in items
    ]
    assert data["items"][0]["line_total"] == str(items[0].line_total)


@pytest.mark.django_db
def test_orders_are_hidden_from_anonymous_visitors(client):
    response = client.get("/api/orders/")

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Authentication credentials were not provided."
    }
