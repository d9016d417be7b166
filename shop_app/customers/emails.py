"""The emails sent to customers."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

WELCOME_SUBJECT = "Welcome to the shop"


def welcome_email_send(*, user_id: int) -> None:
    """Send the welcome email to the user with `user_id`."""
    user = get_user_model().objects.get(pk=user_id)
    name = user.get_short_name() or user.get_username()
    send_mail(
        subject=WELCOME_SUBJECT,
        message=f"Hello {name},\n\nthank you for signing up. Happy shopping!\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
