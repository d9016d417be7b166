"""Writes about customers: signing up."""

from django.contrib.auth import get_user_model
from django.db import transaction

from customers.emails import welcome_email_send
from customers.models import Customer


def customer_signup(
    *, username: str, email: str, password: str, phone: str = "", city: str = ""
) -> Customer:
    """Create a user and its customer profile, then send the welcome email."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, email=email, password=password
        )
        customer = Customer.objects.create(user=user, phone=phone, city=city)
    # TODO(lesson 5): the email is sent inside the request, which waits for the
    # mail server; send_welcome_email.delay_on_commit(user.pk) hands it to Celery.
    welcome_email_send(user_id=user.pk)
    return customer
