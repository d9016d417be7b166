"""Trusted tests of lesson 5: the welcome email, sent by a worker, once.

They drive the shop apart (`checker.harness`). What the signup published is
read from the LPUSHes Redis saw on the broker's database; emails arrive at
the run's SMTP sink, which learns from the kernel which process sent each:
the request's (the shop's agent) or a worker the trusted side started. A
task's final state and error come from the result backend, for the
diagnosis; the points rest on the emails the sink received.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from checker.budgets import assert_within
from checker.budgets.tasks import (
    drained_by_worker,
    task_offloaded,
    task_published_on_commit,
)
from checker.harness.cache_server import CommandLog
from checker.harness.mail_sink import SOCKET_NAME, MailSink, ReceivedMail
from checker.harness.run import ShopRun
from checker.harness.shop import Shop
from checker.harness.workers import (
    Published,
    Workers,
    drain_report,
    publish_again,
    published,
    task_result,
    until,
)
from checker.trusted.commits import commits_refused
from checker.worker import DrainReport

TASK = "send_welcome_email"
TASK_NAME = f"customers.tasks.{TASK}"
LABEL = "POST /signup/"
# Long enough for a worker to run a task and its retries (backoff of a second
# or two) on a busy machine.
DRAIN_SECONDS = 30
# After the last task ends, how long a late email may still take to arrive.
SETTLE_SECONDS = 0.5
# The module that only builds and sends the message; the place to name is
# the code that called it.
EMAILS_MODULE = "shop_app/customers/emails.py"
SERVICES_MODULE = "shop_app/customers/services.py"
TASKS_MODULE = "shop_app/customers/tasks.py"
RETRY_FIX = (
    "@shared_task(autoretry_for=(SMTPException,), retry_backoff=True, max_retries=5)"
)
CLAIM_FIX = (
    "Claim the welcome before sending, with a conditional UPDATE only one run "
    "can win: Customer.objects.filter(user_id=user_id, welcomed_at=None)"
    ".update(welcomed_at=timezone.now()) == 1, then send, both inside "
    "transaction.atomic() so that a failed send rolls the claim back."
)
_TRACEBACK_LINE = re.compile(r'File "[^"]*/(shop_app/[^"]+)", line (\d+)')


@pytest.fixture(scope="module")
def mail_sink(shop_run: ShopRun) -> Iterator[MailSink]:
    """Run the SMTP sink the shop's email backend sends to."""
    with MailSink(shop_run.plan.folder / "mail" / SOCKET_NAME) as sink:
        yield sink


@pytest.fixture
def sink(mail_sink: MailSink) -> MailSink:
    """Return the sink, with nothing received and nothing to refuse."""
    mail_sink.clear()
    return mail_sink


@dataclass
class Signup:
    """One POST /signup/: what it published and what its process sent."""

    email: str
    messages: list[Published]
    sent: list[ReceivedMail]

    def task_ids(self) -> list[str]:
        """Return the ids of the welcome email tasks, in publishing order."""
        return list(dict.fromkeys(message.id for message in self.messages))

    def tasks(self) -> dict[str, Any]:
        """Return what was published as a task recording, for the budgets."""
        records = [
            {"name": m.task, "call_site": None, "in_transaction": False}
            for m in self.messages
        ]
        return {"label": LABEL, "tasks": {"published": records, "inline": []}}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun if count == 1 else noun + 's'}"


def _from_request(shop: Shop, sink: MailSink) -> list[ReceivedMail]:
    return [message for message in sink.messages() if message.sent_by(shop.process.pid)]


def _signup(shop: Shop, sink: MailSink, log: CommandLog, username: str) -> Signup:
    """Sign up through the page; return what it published and sent."""
    email = f"{username}@example.com"
    data = {"username": username, "email": email, "password": "correct-horse-9"}
    page = shop.post("/signup/", data, label=LABEL)
    assert page.status == 302, (
        f"{LABEL} answered {page.status}; expected a redirect to the order "
        "history once the account is created."
    )
    return Signup(email, published(log, TASK), _from_request(shop, sink))


def _signed_up(shop: Shop, sink: MailSink, username: str = "ana") -> Signup:
    with shop.redis.commands_watch() as log:
        return _signup(shop, sink, log, username)


def _sent_from(message: ReceivedMail) -> str:
    """Return the project line that had `message` sent: the caller of the helper."""
    sites = message.sites
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
    if signup.sent:
        also = f", and published {TASK} too" if signup.messages else ""
        raise AssertionError(
            f"{LABEL} sent the welcome email inside the request"
            f"{_sent_from(signup.sent[0])}{also}, so the page waits for the "
            f"mail server (budget: {TASK} published to a worker, no email sent "
            f"by the request). Expected {TASK} published to the queue. Call "
            f"{TASK}.delay_on_commit(user.pk) in customer_signup() instead."
        )
    assert_within(signup.tasks(), task_offloaded(TASK))


def _task_site(messages: list[ReceivedMail], meta: dict[str, Any]) -> str:
    """Return where the task sent or failed from: `shop_app/...:line`."""
    for message in messages:
        for site in message.sites:
            if site.startswith(TASKS_MODULE):
                return site
    lines = _TRACEBACK_LINE.findall(str(meta.get("traceback") or ""))
    tasks = [f"{path}:{line}" for path, line in lines if path == TASKS_MODULE]
    return tasks[-1] if tasks else TASKS_MODULE


def _by_workers(workers: Workers, sink: MailSink) -> list[ReceivedMail]:
    return [m for m in sink.messages() if workers.sent_by_worker(m.pids)]


def _drained(
    shop: Shop, sink: MailSink, workers: Workers, queue: str, task_ids: list[str]
) -> DrainReport:
    """Wait until the tasks end; then a moment more, for a late email."""
    report = drain_report(shop.redis, queue, task_ids, timeout=DRAIN_SECONDS)
    until(lambda: False, timeout=SETTLE_SECONDS)
    late = _from_request(shop, sink)
    if late:
        raise AssertionError(
            f"{LABEL} sent the welcome email from the shop's own process after "
            f"it answered{_sent_from(late[0])} (budget: sent by a worker). Call "
            f"{TASK}.delay_on_commit(user.pk) in customer_signup() instead."
        )
    return report


def _assert_one_welcome(
    sent: list[ReceivedMail], email: str, scenario: str, site: str
) -> None:
    """Fail unless the workers sent exactly one email, to `email`."""
    if len(sent) == 1 and sent[0].recipients == (email,):
        return
    if not sent:
        raise AssertionError(
            f"{scenario} sent no email (budget: exactly one welcome email to "
            f"{email}). {TASK} runs at {site}; it must send the welcome email "
            "with send_mail() or welcome_email_send()."
        )
    recipients = ", ".join(", ".join(m.recipients) for m in sent)
    raise AssertionError(
        f"{scenario} sent {_plural(len(sent), 'email')}, to {recipients} "
        f"(budget: exactly one welcome email to {email})."
    )


@pytest.mark.exercise("05-welcome-email", budget="offloaded")
def test_signup_publishes_the_welcome_email_and_sends_nothing_itself(
    shop: Shop, sink: MailSink, workers: Workers
) -> None:
    _assert_offloaded(_signed_up(shop, sink))


@pytest.mark.exercise("05-welcome-email", budget="on-commit")
def test_signup_publishes_the_welcome_email_once_the_rows_are_committed(
    shop: Shop, sink: MailSink, workers: Workers, trusted_sql: Any
) -> None:
    signup = _signed_up(shop, sink)
    _assert_offloaded(signup)

    # A signup whose transaction fails to commit must publish nothing: a
    # message sent before the COMMIT would reach a worker for rows that
    # never existed. No clock is compared: the broker saw it or not.
    with commits_refused(trusted_sql, "customers_customer"):
        # The page fails, or the shop hides the failure: either way, only
        # what reached the broker counts.
        with shop.redis.commands_watch() as log, contextlib.suppress(AssertionError):
            _signup(shop, sink, log, "bo")
        early = published(log, TASK)
    records = signup.tasks()["tasks"]["published"] + [
        {
            "name": message.task,
            "call_site": None,
            "in_transaction": True,
            "transaction": "rolled back",
        }
        for message in early
    ]
    label = f"{LABEL} whose transaction failed to commit"
    assert_within(
        {"label": label, "tasks": {"published": records}},
        task_published_on_commit(TASK),
    )


@pytest.mark.exercise("05-welcome-email", budget="delivered")
def test_a_worker_sends_the_new_customer_one_welcome_email(
    shop: Shop, sink: MailSink, workers: Workers
) -> None:
    signup = _signed_up(shop, sink)
    _assert_offloaded(signup)
    queue = signup.messages[0].queue

    workers.start([queue])
    report = _drained(shop, sink, workers, queue, signup.task_ids())

    assert_within(report, drained_by_worker())
    sent = _by_workers(workers, sink)
    site = _task_site(sent, task_result(shop.redis, signup.task_ids()[0]))
    _assert_one_welcome(sent, signup.email, f"The worker running {TASK}", site)


def _not_retried(report: DrainReport, retries: int, site: str) -> str | None:
    """Describe how the task failed for good, if it did."""
    final = report.outcomes[0] if report.outcomes else None
    if final is None or final.state != "failed":
        return None
    if retries == 0:
        how = "and was not retried, so the email never arrived"
    else:
        how = f"again after {_plural(retries, 'retry')}"
    return (
        f"{TASK} failed in the worker when the mail server refused the "
        f"connection ({final.error}) {how} (budget: retried until the email is "
        f"sent). {TASK} failed at {site}. Let Celery retry it with a growing "
        f"delay: {RETRY_FIX}."
    )


@pytest.mark.exercise("05-welcome-email", budget="retried")
def test_a_send_the_mail_server_refuses_is_retried_and_arrives_once(
    shop: Shop, sink: MailSink, workers: Workers
) -> None:
    with shop.redis.commands_watch() as log:
        signup = _signup(shop, sink, log, "ana")
        _assert_offloaded(signup)
        [task_id] = signup.task_ids()
        queue = signup.messages[0].queue
        # The mail server turns the first connection away.
        sink.refuse(1)
        workers.start([queue])
        report = _drained(shop, sink, workers, queue, [task_id])
    retries = max(m.retries for m in published(log, TASK) if m.id == task_id)
    sent = _by_workers(workers, sink)
    site = _task_site(sent, task_result(shop.redis, task_id))

    failed = _not_retried(report, retries, site)
    if failed:
        raise AssertionError(failed)
    assert_within(report, drained_by_worker())
    if not sink.refusals():
        raise AssertionError(
            f"{TASK} ran without connecting to the mail server, so the refused "
            "connection was never tried (budget: retried until the email is "
            "sent). Send the welcome email with Django's send_mail()."
        )
    if retries and not sent:
        raise AssertionError(
            f"{TASK} was retried after the mail server refused the connection "
            "and then succeeded, but the retry sent no email (budget: exactly "
            f"one welcome email to {signup.email}). {TASK} runs at {site}: the "
            "first run's claim was kept when sending failed. Claim and send "
            "inside one transaction.atomic() block, so that a failed send "
            "rolls the claim back and the retry can send."
        )
    _assert_one_welcome(
        sent, signup.email, f"{TASK}, with the first connection refused,", site
    )


@pytest.mark.exercise("05-welcome-email", budget="idempotent")
def test_the_task_delivered_twice_for_one_user_sends_one_email(
    shop: Shop, sink: MailSink, workers: Workers, trusted_sql: Any
) -> None:
    [customer] = shop.build("customers_make", 1)
    [(user_id, email)] = trusted_sql.execute(
        "SELECT u.id, u.email FROM customers_customer c"
        " JOIN auth_user u ON u.id = c.user_id WHERE c.id = %s",
        [customer["pk"]],
    ).fetchall()
    with shop.redis.commands_watch() as log:
        task_id = shop.call("task_send", TASK_NAME, user_id)
    [message] = [m for m in published(log, TASK) if m.id == task_id]
    # A broker delivers a message again when the worker that had it is lost
    # before acknowledging it: the same message, twice.
    publish_again(shop.redis, message)

    worker = workers.start([message.queue])
    # The result backend keeps the first success only: when both runs ended,
    # the worker's own log tells. It only ends the wait.
    until(lambda: worker.runs_ended(task_id) >= 2, timeout=DRAIN_SECONDS)
    report = _drained(shop, sink, workers, message.queue, [task_id])

    assert_within(report, drained_by_worker())
    sent = _by_workers(workers, sink)
    site = _task_site(sent, task_result(shop.redis, task_id))
    if len(sent) > 1:
        raise AssertionError(
            f"{TASK} delivered twice for one user sent "
            f"{_plural(len(sent), 'welcome email')} to {email} (budget: exactly "
            f"one). A broker delivers a message again when a worker is lost "
            f"before acknowledging it. {TASK} sent them from {site}. {CLAIM_FIX}"
        )
    _assert_one_welcome(sent, email, f"{TASK} delivered twice for one user", site)
