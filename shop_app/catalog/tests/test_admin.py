"""Tests of the admin changelists of every shop model."""

import pytest
from django.contrib.auth import get_user_model

from catalog.models import Product, Review
from customers.models import Customer
from orders.models import Order

pytestmark = pytest.mark.usefixtures("tiny_shop")


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.get(username="admin"))
    return client


@pytest.mark.django_db
def test_product_changelist_shows_category_and_brand_names(admin_client):
    product = Product.objects.select_related("category", "brand").get(pk=1)

    html = admin_client.get("/admin/catalog/product/").content.decode()

    assert f'<td class="field-category_name">{product.category.name}</td>' in html
    assert f'<td class="field-brand_name">{product.brand.name}</td>' in html


@pytest.mark.django_db
def test_review_changelist_shows_the_reviewer(admin_client):
    review = Review.objects.order_by("-id").first()

    html = admin_client.get("/admin/catalog/review/").content.decode()

    assert f'<td class="field-reviewer">{review.customer.user.username}</td>' in html


@pytest.mark.django_db
def test_order_changelist_shows_the_customer_and_city(admin_client):
    order = Order.objects.order_by("-id").first()

    html = admin_client.get("/admin/orders/order/").content.decode()

    username = order.customer.user.username
    assert f'<td class="field-customer_username">{username}</td>' in html
    assert f'<td class="field-customer_city">{order.customer.city}</td>' in html


@pytest.mark.django_db
def test_customer_changelist_shows_the_email(admin_client):
    customer = Customer.objects.order_by("-id").first()

    html = admin_client.get("/admin/customers/customer/").content.decode()

    assert f'<td class="field-email">{customer.user.email}</td>' in html
