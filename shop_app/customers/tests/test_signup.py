"""Tests of the signup page."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from customers.emails import WELCOME_SUBJECT
from customers.models import Customer

SIGNUP = {
    "username": "ana",
    "email": "ana@example.com",
    "password": "correct-horse-battery",
    "phone": "+351 900 000 000",
    "city": "Porto",
}


@pytest.mark.django_db
def test_signup_creates_the_user_and_customer_and_logs_them_in(client):
    response = client.post("/signup/", SIGNUP)

    customer = Customer.objects.select_related("user").get(user__username="ana")
    assert response.status_code == 302
    assert response.url == "/account/orders/"
    assert (customer.user.email, customer.phone, customer.city) == (
        "ana@example.com",
        "+351 900 000 000",
        "Porto",
    )
    assert customer.user.check_password("correct-horse-battery")
    assert client.get("/account/orders/").context["customer"] == customer


@pytest.mark.django_db
def test_signup_sends_the_welcome_email(client):
    client.post("/signup/", SIGNUP)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == WELCOME_SUBJECT
    assert mail.outbox[0].to == ["ana@example.com"]
    assert mail.outbox[0].body.startswith("Hello ana,")


@pytest.mark.django_db
def test_signup_refuses_a_taken_username_and_sends_nothing(client):
    get_user_model().objects.create_user(username="ana")

    response = client.post("/signup/", SIGNUP)

    assert response.status_code == 200
    assert response.context["form"].errors == {"username": ["This username is taken."]}
    assert Customer.objects.count() == 0
    assert mail.outbox == []
