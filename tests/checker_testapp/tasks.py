"""Tasks of the checker's test app: one that works, one that fails, one that retries."""

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.mail import send_mail


@shared_task
def add(x: int, y: int) -> int:
    """Return the sum, so a worker's result can be checked."""
    return x + y


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
