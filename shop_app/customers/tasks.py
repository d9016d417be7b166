"""Celery tasks about customers."""

from celery import shared_task

from customers.emails import welcome_email_send


@shared_task
def send_welcome_email(user_id: int) -> None:
    """Send the welcome email to the user with `user_id`."""
    welcome_email_send(user_id=user_id)
