"""Tasks of the test app, and the code that runs or publishes them in each way."""

from celery import shared_task
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction


@shared_task
def add(x: int, y: int) -> int:
    """Return the sum, so a worker's result can be checked."""
    return x + y


@shared_task
def double(x: int) -> int:
    """Add a number to itself by calling another task's body."""
    return add(x, x)


@shared_task
def fail(message: str) -> None:
    """Raise, so a worker's failure outcome can be checked."""
    raise ValueError(message)


@shared_task(bind=True, max_retries=2, default_retry_delay=0)
def succeed_on_retry(self, value: str) -> str:  # type: ignore[no-untyped-def]
    """Retry once, then return the value."""
    if self.request.retries == 0:
        raise self.retry(exc=RuntimeError("first attempt"), countdown=0)
    return value


@shared_task
def send_welcome_email(user_id: int) -> str:
    """Email a user by id; the user must be committed for a worker to find it."""
    user = get_user_model().objects.get(pk=user_id)
    send_mail("Welcome", "Thanks for joining.", None, [user.email])
    return user.email


def welcome_inline(user_id: int) -> str:
    """Send the welcome email in the caller's process."""
    return send_welcome_email(user_id)


def welcome_published(user_id: int) -> None:
    """Publish the welcome email at once, transaction or not."""
    send_welcome_email.delay(user_id)


def user_signup(*, username: str, on_commit: bool) -> AbstractBaseUser:
    """Create a user and publish their welcome email, on commit or at once."""
    with transaction.atomic():
        user = get_user_model().objects.create(
            username=username, email=f"{username}@example.com"
        )
        if on_commit:
            send_welcome_email.delay_on_commit(user.pk)
        else:
            send_welcome_email.delay(user.pk)
    return user


@shared_task
def send_note(address: str) -> int:
    """Email one address; fail as the mail server fails."""
    return send_mail("Note", "A note.", None, [address])


# smtplib's errors are OSErrors.
@shared_task(autoretry_for=(OSError,), max_retries=2, default_retry_delay=0)
def send_note_retrying(address: str) -> int:
    """Email one address, retrying when the mail server fails."""
    return send_mail("Note", "A note.", None, [address])


@shared_task(acks_late=True, reject_on_worker_lost=True)
def add_acked_late(x: int, y: int) -> int:
    """Return the sum, acknowledging the message only once the body has run."""
    return x + y
