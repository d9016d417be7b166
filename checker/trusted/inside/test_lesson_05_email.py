"""Trusted tests of lesson 5: the welcome email, sent by a worker, once.

Every test commits its rows (`transaction=True`): the signup publishes on
commit, and a worker reads the rows from the test database. Tasks published
where no worker is wanted go to a queue of their own that no worker consumes,
dropped at the end, so that a shop's worker on the same broker never gets
them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from celery import current_app
from django.core import mail

from checker.budgets import assert_within
from checker.budgets.tasks import (
    drained_by_worker,
    task_offloaded,
    task_published_on_commit,
)
from checker.harness.shop_data import customers_make
from checker.mail import FAILURES_ENV, sent_via
from checker.measure import Measurement
from checker.trusted.measuring import measured
from checker.trusted.queues import queue_aside, task_site
from checker.worker import CeleryWorker, DrainReport
from customers.tasks import send_welcome_email

TASK = "send_welcome_email"
LABEL = "POST /signup/"
# Long enough for a worker to start and run a task and its retries (backoff
# of a second or two) on a busy machine.
DRAIN_SECONDS = 30
# The module that only builds and sends the message; the place to name is
# the code that called it.
EMAILS_MODULE = "shop_app/customers/emails.py"
SERVICES_MODULE = "shop_app/customers/services.py"
RETRY_FIX = (
    "@shared_task(autoretry_for=(SMTPException,), retry_backoff=True, max_retries=5)"
)
CLAIM_FIX = (
    "Claim the welcome before sending, with a conditional UPDATE only one run "
    "can win: Customer.objects.filter(user_id=user_id, welcomed_at=None)"
    ".update(welcomed_at=timezone.now()) == 1, then send, both inside "
    "transaction.atomic() so that a failed send rolls the claim back."
)

WorkerFactory = Callable[..., CeleryWorker]


@pytest.fixture(autouse=True)
def mail_recorded(settings: Any) -> None:
    """Note where each email sent in the test's process comes from."""
    settings.EMAIL_BACKEND = "checker.mail.RecordingEmailBackend"


@pytest.fixture
def aside() -> Iterator[str]:
    """Publish to a queue no worker consumes; remove it and its messages after."""
    previous = current_app.conf.task_default_queue
    with queue_aside() as name:
        current_app.conf.task_default_queue = name
        try:
            yield name
        finally:
            current_app.conf.task_default_queue = previous


@dataclass
class Signup:
    """One POST /signup/: what it published and what it sent by itself."""

    email: str
    measurement: Measurement
    sent: list[Any]

    def task_ids(self) -> list[str]:
        """Return the ids of the welcome email tasks the signup published."""
        tasks: Any = self.measurement.tasks
        return [t.id for t in tasks.published if _short(t.name) == TASK]

    def inline(self) -> list[Any]:
        tasks: Any = self.measurement.tasks
        return [t for t in tasks.inline if _short(t.name) == TASK]


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun if count == 1 else noun + 's'}"


def _signup(client: Any, username: str = "ana") -> Signup:
    """Sign up through the page, measured; return what the request did."""
    email = f"{username}@example.com"
    data = {"username": username, "email": email, "password": "correct-horse-9"}
    with measured(LABEL) as measurement:
        response = client.post("/signup/", data)
    assert response.status_code == 302, (
        f"{LABEL} answered {response.status_code}; expected a redirect to the "
        "order history once the account is created."
    )
    return Signup(email, measurement, list(mail.outbox))


def _sent_from(message: Any) -> str:
    """Return the project line that had `message` sent: the caller of the helper."""
    sites = sent_via(message)
    for preferred in (
        [s for s in sites if s.startswith(SERVICES_MODULE)],
        [s for s in sites if not s.startswith(EMAILS_MODULE)],
        list(sites),
    ):
        if preferred:
            return f" (from {preferred[0]})"
    return ""


def _assert_offloaded(signup: Signup) -> None:
    """Fail, naming where, unless the signup published the task and sent nothing."""
    if signup.sent and not signup.inline():
        published = signup.task_ids()
        also = f", and published {TASK} too" if published else ""
        raise AssertionError(
            f"{LABEL} sent the welcome email inside the request"
            f"{_sent_from(signup.sent[0])}{also}, so the page waits for the "
            f"mail server (budget: {TASK} published to a worker, no email sent "
            f"by the request). Expected {TASK} published to the queue. Call "
            f"{TASK}.delay_on_commit(user.pk) in customer_signup() instead."
        )
    assert_within(signup.measurement, task_offloaded(TASK))


def _task_site() -> str:
    return task_site(send_welcome_email)


def _emails(report: DrainReport) -> list[dict[str, Any]]:
    return [email for run in report.runs for email in run.emails]


def _assert_one_welcome(report: DrainReport, email: str, scenario: str) -> None:
    """Fail unless the worker's runs sent exactly one email, to `email`."""
    sent = _emails(report)
    if len(sent) == 1 and sent[0]["to"] == [email]:
        return
    if not sent:
        raise AssertionError(
            f"{scenario} sent no email (budget: exactly one welcome email to "
            f"{email}). {TASK} is defined at {_task_site()}; it must send the "
            "welcome email with send_mail() or welcome_email_send()."
        )
    recipients = ", ".join(", ".join(e["to"]) for e in sent)
    raise AssertionError(
        f"{scenario} sent {_plural(len(sent), 'email')}, to {recipients} "
        f"(budget: exactly one welcome email to {email})."
    )


@pytest.mark.exercise("05-welcome-email", budget="offloaded")
@pytest.mark.django_db(transaction=True)
def test_signup_publishes_the_welcome_email_and_sends_nothing_itself(
    client: Any, aside: str
) -> None:
    _assert_offloaded(_signup(client))


@pytest.mark.exercise("05-welcome-email", budget="on-commit")
@pytest.mark.django_db(transaction=True)
def test_signup_publishes_the_welcome_email_once_the_rows_are_committed(
    client: Any, aside: str
) -> None:
    signup = _signup(client)
    _assert_offloaded(signup)
    assert_within(signup.measurement, task_published_on_commit(TASK))


@pytest.mark.exercise("05-welcome-email", budget="delivered")
@pytest.mark.django_db(transaction=True)
def test_a_worker_sends_the_new_customer_one_welcome_email(
    client: Any, course_worker: CeleryWorker
) -> None:
    signup = _signup(client)
    _assert_offloaded(signup)

    report = course_worker.drain(signup.task_ids(), timeout=DRAIN_SECONDS)

    assert_within(report, drained_by_worker())
    _assert_one_welcome(report, signup.email, f"The worker running {TASK}")


def _not_retried(report: DrainReport) -> str | None:
    """Describe how the task failed for good, if it did."""
    final = report.outcomes[0] if report.outcomes else None
    if final is None or final.state != "failed":
        return None
    retries = final.retries
    if retries == 0:
        how = "and was not retried, so the email never arrived"
    else:
        how = f"again after {_plural(retries, 'retry')}"
    return (
        f"{TASK} failed in the worker when the mail server dropped the "
        f"connection ({final.error}) {how} (budget: retried until the email is "
        f"sent). {TASK} is defined at {_task_site()}. Let Celery retry it "
        f"with a growing delay: {RETRY_FIX}."
    )


@pytest.mark.exercise("05-welcome-email", budget="retried")
@pytest.mark.django_db(transaction=True)
def test_a_send_the_mail_server_drops_is_retried_and_arrives_once(
    client: Any, course_worker_factory: WorkerFactory
) -> None:
    # The worker's mail server drops the connection on the first send.
    worker = course_worker_factory(environment={FAILURES_ENV: "1"})
    with worker.routed():
        signup = _signup(client)
    _assert_offloaded(signup)

    report = worker.drain(signup.task_ids(), timeout=DRAIN_SECONDS)

    failed = _not_retried(report)
    if failed:
        raise AssertionError(failed)
    assert_within(report, drained_by_worker())
    retried = [run for run in report.runs if run.state == "retried"]
    if retried and not _emails(report):
        raise AssertionError(
            f"{TASK} was retried after the mail server dropped the connection "
            "and then succeeded, but the retry sent no email (budget: exactly "
            f"one welcome email to {signup.email}). {TASK} is defined at "
            f"{_task_site()}: the first run's claim was kept when sending "
            "failed. Claim and send inside one transaction.atomic() block, so "
            "that a failed send rolls the claim back and the retry can send."
        )
    _assert_one_welcome(report, signup.email, f"{TASK}, with the first send failing,")


@pytest.mark.exercise("05-welcome-email", budget="idempotent")
@pytest.mark.django_db(transaction=True)
def test_the_task_delivered_twice_for_one_user_sends_one_email(
    course_worker: CeleryWorker,
) -> None:
    [customer] = customers_make(1)
    email = customer.user.email
    # A broker delivers a message again when the worker that had it is lost
    # before acknowledging it: two messages for one user.
    ids = [send_welcome_email.delay(customer.user_id).id for _ in range(2)]

    report = course_worker.drain(ids, timeout=DRAIN_SECONDS)

    assert_within(report, drained_by_worker())
    sent = _emails(report)
    if len(sent) > 1:
        raise AssertionError(
            f"{TASK} delivered twice for one user sent "
            f"{_plural(len(sent), 'welcome email')} to {email} (budget: exactly "
            f"one). A broker delivers a message again when a worker is lost "
            f"before acknowledging it. {TASK} is defined at {_task_site()}. "
            f"{CLAIM_FIX}"
        )
    _assert_one_welcome(report, email, f"{TASK} delivered twice for one user")
