"""Tests of the customer tasks' bodies, run in this process."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from customers.tasks import send_welcome_email


@pytest.mark.django_db
def test_send_welcome_email_mails_the_user():
    user = get_user_model().objects.create_user(
        username="bo", email="bo@example.com", first_name="Bo"
    )

    send_welcome_email(user.pk)

    assert [message.to for message in mail.outbox] == [["bo@example.com"]]
    assert mail.outbox[0].body.startswith("Hello Bo,")
