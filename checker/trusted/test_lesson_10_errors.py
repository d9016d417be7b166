"""Trusted tests of lesson 10's error reporting, read from the receiver's store.

The shop runs under Gunicorn and a Celery worker, each with SENTRY_DSN
pointing at an error receiver (`checker.services.errors`) that this process
serves on a Unix socket in the run's folder; a relay beside each process
carries the SDK's requests there. Two failures are set up from outside: the
database refuses a new customer while a visitor signs up, and the mail
server is down while the worker sends the welcome email. What is graded is
what the receiver got: each exception with its stack trace, the release and
environment the deployment names, and none of the customer's email address
or password.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from checker.harness.run import ShopRun
from checker.harness.served import Served, relay_port, relayed, tree_kill
from checker.harness.shop import Shop
from checker.harness.workers import BROKER_DB, broker_clear, database
from checker.services.errors import ErrorReceiver
from checker.trusted.sites import shop_site

SETTINGS = "shop_app/config/settings/base.py"
ERRORS = "shop_app/config/errors.py"
RELEASE = "shop@lesson-10"
ENVIRONMENT = "grading"
WAIT_SECONDS = 30.0
# How long an event may trail the failure it reports: the SDK sends from a
# thread of its own, at once.
TRAIL_SECONDS = 3.0
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
REFUSE = """
CREATE OR REPLACE FUNCTION public.course_customer_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the database refuses new customers right now'; END $$;
CREATE TRIGGER course_customer_refuse BEFORE INSERT ON public.customers_customer
FOR EACH ROW EXECUTE FUNCTION public.course_customer_refuse();
"""
ACCEPT = """
DROP TRIGGER IF EXISTS course_customer_refuse ON public.customers_customer;
DROP FUNCTION IF EXISTS public.course_customer_refuse();
"""


@dataclass
class Failure:
    """One failure set up in the shop, and the events the receiver got for it."""

    label: str
    email: str
    password: str
    status: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


@dataclass
class Reported:
    view: Failure
    task: Failure
    root: str


@pytest.fixture(scope="module")
def receiver(shop_run: ShopRun) -> Iterator[ErrorReceiver]:
    """Receive the shop's envelopes on a socket in the run's folder."""
    socket = shop_run.plan.folder / "errors" / "errors.sock"
    with ErrorReceiver(socket=socket) as service:
        yield service


def _sentry_env(port: int) -> dict[str, str]:
    return {
        "SENTRY_DSN": f"http://course@127.0.0.1:{port}/1",
        "SENTRY_RELEASE": RELEASE,
        "SENTRY_ENVIRONMENT": ENVIRONMENT,
        "DJANGO_DEBUG": "0",
    }


def _customer() -> tuple[str, str, str]:
    token = uuid.uuid4().hex[:8]
    return f"buyer{token}", f"buyer.{token}@example.org", f"secret-{token}-pw"


def _signup(served: Served, username: str, email: str, password: str) -> int:
    with served.client() as client:
        form = client.get("/signup/")
        found = CSRF.search(form.text)
        data = {
            "username": username,
            "email": email,
            "password": password,
            "csrfmiddlewaretoken": found[1] if found else "",
        }
        return client.post("/signup/", data=data).status_code


def _wait(
    receiver: ErrorReceiver,
    mark: int,
    failure: Failure,
    ended: Callable[[], bool] = lambda: True,
) -> None:
    """Collect the events since `mark`, until they come or `ended()` long ago."""
    deadline = time.monotonic() + WAIT_SECONDS
    ended_at = None
    while time.monotonic() < deadline:
        if receiver.events(mark):
            # The SDK sends the event first; give a second envelope a moment.
            time.sleep(0.5)
            break
        if ended_at is None and ended():
            ended_at = time.monotonic()
        if ended_at is not None and time.monotonic() - ended_at > TRAIL_SECONDS:
            break
        time.sleep(0.1)
    envelopes = receiver.envelopes(mark)
    failure.events = [e for env in envelopes for e in env.payloads("event")]
    failure.raw = [env.raw for env in envelopes]


def _worker(shop_run: ShopRun, env: dict[str, str], log: Path) -> Any:
    """Start a Celery worker on the default queue, reporting through a relay."""
    port = relay_port(shop_run)
    env = {**env, **_sentry_env(port)}
    argv = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--pool=solo", "--concurrency=1", "--queues", "celery",
        "--without-mingle", "--without-gossip", "--without-heartbeat",
        "--loglevel", "INFO",
    ]  # fmt: skip
    relay = shop_run.plan.folder / "errors" / "errors.sock"
    with log.open("wb") as output:
        return shop_run.spawn(
            relayed(argv, relay=relay, port=port), env=env, output=output
        )


@pytest.fixture(scope="module")
def reported(shop_run: ShopRun, receiver: ErrorReceiver) -> Iterator[Reported]:
    """Make a view and a task fail once each; keep what the receiver got."""
    shop: Shop = shop_run.shop
    shop.reset()
    broker_clear(shop.redis)
    served = Served(shop_run, workers=2, name="errors")
    env = _sentry_env(served.relay_port)
    assert receiver.socket is not None
    served.start(env=env, relay=receiver.socket)
    connection = shop_run.trusted_connection()
    connection.autocommit = True
    worker = None
    try:
        # The task: a customer signs up, and the welcome email's worker finds
        # the mail server down.
        username, email, password = _customer()
        task = Failure("the welcome email's task, with the mail server down",
                       email, password)  # fmt: skip
        _signup(served, username, email, password)
        mark = receiver.mark()
        no_mail = str(shop_run.plan.folder / "errors" / "no-mail.sock")
        log = shop_run.plan.folder / "errors" / "worker.log"
        worker_env = {**env, "COURSE_MAIL_SOCKET": no_mail}
        worker = _worker(shop_run, worker_env, log)
        _wait(receiver, mark, task, lambda: _task_ended(log, worker, shop.redis))
        # The view: the database refuses the next customer's row.
        username, email, password = _customer()
        view = Failure("POST /signup/ under Gunicorn, with the database refusing"
                       " new customers", email, password)  # fmt: skip
        connection.execute(REFUSE)
        mark = receiver.mark()
        view.status = _signup(served, username, email, password)
        _wait(receiver, mark, view)
        yield Reported(view=view, task=task, root=shop_run.plan.root)
    finally:
        connection.execute(ACCEPT)
        connection.close()
        if worker is not None:
            tree_kill(shop_run, worker)
        served.stop()
        broker_clear(shop.redis)


def _task_ended(log: Path, worker: Any, run_redis: Any) -> bool:
    """Tell whether the worker ended a task, exited, or has no task to take.

    The worker's own log says when a task ended; a worker that is ready while
    the broker holds no message, queued or taken, and has logged no task
    received will never run one (the shop sent its email inside the request,
    or to a queue this worker does not read).
    """
    text = log.read_text(errors="replace") if log.exists() else ""
    if worker.poll() is not None or re.search(r"\] (succeeded|raised)", text):
        return True
    if " ready." not in text or re.search(r"\] received", text):
        return False
    client = database(run_redis, BROKER_DB)
    try:
        keys = [k for k in client.scan_iter(count=1000) if _broker_busy(k)]
    finally:
        client.close()
    return not keys


def _broker_busy(key: bytes) -> bool:
    """Tell whether a key of the broker's database holds a message.

    Kombu keeps its bindings and bookkeeping under `_kombu.`; a queue, and
    the `unacked` messages a worker has taken, have keys of their own.
    """
    return not key.startswith(b"_kombu.") and key != b"unacked_mutex"


def _frames(event: dict[str, Any]) -> list[dict[str, Any]]:
    values = event.get("exception", {}).get("values", [])
    return [f for v in values for f in (v.get("stacktrace") or {}).get("frames", [])]


def _shop_frame(event: dict[str, Any]) -> str:
    for frame in reversed(_frames(event)):
        module = str(frame.get("module") or "")
        if module.split(".")[0] in {"catalog", "customers", "orders", "config"}:
            return f"{module}:{frame.get('lineno')}"
    return ""


def _exception(event: dict[str, Any]) -> str:
    values = event.get("exception", {}).get("values", [])
    return str(values[-1].get("type")) if values else ""


def _arrived(failure: Failure, what: str, root: str) -> dict[str, Any]:
    errors = [e for e in failure.events if e.get("exception")]
    if not errors:
        site = shop_site(
            root,
            SETTINGS,
            r"TODO\(lesson 10\)",
            r"sentry_sdk|errors_init",
            r"^MIDDLEWARE",
        )
        status = f" answered {failure.status}," if failure.status else ","
        raise AssertionError(
            f"{failure.label}{status} and the error receiver got no exception"
            f" event for it (budget: {what} reaches the DSN"
            " in SENTRY_DSN with its stack trace). Nothing reports the shop's"
            f" errors: call sentry_sdk.init() from the settings ({site}); it reads"
            " SENTRY_DSN, SENTRY_RELEASE and SENTRY_ENVIRONMENT from the"
            " environment, and its Django and Celery integrations turn on by"
            " themselves."
        )
    return errors[0]


def _described(failure: Failure, event: dict[str, Any]) -> None:
    label = f"{failure.label}: the {_exception(event)} event"
    assert _shop_frame(event), (
        f"{label} carries no stack frame of the shop's code (budget: the"
        " stack trace down to the shop's line)."
    )
    for key, wanted, variable in (
        ("release", RELEASE, "SENTRY_RELEASE"),
        ("environment", ENVIRONMENT, "SENTRY_ENVIRONMENT"),
    ):
        assert event.get(key) == wanted, (
            f"{label} has {key} {event.get(key)!r}; expected {wanted!r}, the"
            f" value of {variable} the deployment set. Leave {key}= out of"
            f" sentry_sdk.init(), or read it from {variable}."
        )


@pytest.mark.exercise("10-error-reporting", budget="view-error")
def test_a_view_exception_reaches_the_receiver_with_its_trace(
    reported: Reported,
) -> None:
    event = _arrived(reported.view, "the view's exception", reported.root)
    _described(reported.view, event)


@pytest.mark.exercise("10-error-reporting", budget="task-error")
def test_a_task_exception_reaches_the_receiver_with_its_trace(
    reported: Reported,
) -> None:
    event = _arrived(reported.task, "the task's exception", reported.root)
    _described(reported.task, event)


def _paths(value: Any, needle: str, path: str = "") -> Iterator[str]:
    if isinstance(value, str) and needle in value:
        yield path or "."
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, needle, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from _paths(item, needle, f"{path}[{number}]")


def _where(failure: Failure, needle: str) -> list[str]:
    found = [p for event in failure.events for p in _paths(event, needle)]
    if not found and any(needle.encode() in raw for raw in failure.raw):
        found = ["the envelope"]
    return found


@pytest.mark.exercise("10-error-reporting", budget="personal-data")
def test_no_event_carries_the_customers_email_or_password(
    reported: Reported,
) -> None:
    failures = (reported.view, reported.task)
    site = (
        shop_site(
            reported.root,
            ERRORS,
            r"before_send",
            r"^\s+sentry_sdk\.init\(",
            r"sentry_sdk",
        )
        if (Path(reported.root) / ERRORS).is_file()
        else shop_site(reported.root, SETTINGS, r"TODO\(lesson 10\)", r"sentry_sdk")
    )
    if not any(f.events for f in failures):
        raise AssertionError(
            "No event reached the error receiver, so none could be checked for"
            " the customer's email address and password (budget: events"
            f" arrive, without either). Report errors first ({site})."
        )
    for failure in failures:
        for secret, what in ((failure.email, "email address"),
                             (failure.password, "password")):  # fmt: skip
            where = _where(failure, secret)
            assert not where, (
                f"{failure.label}: the event sent to the receiver carries the"
                f" customer's {what} in {', '.join(sorted(set(where))[:4])}"
                " (budget: none). Keep send_default_pii=False, and scrub what"
                " the shop's own code puts in an event (exception messages,"
                " local variables, form fields, SQL parameters) in a"
                f" before_send function ({site})."
            )
