"""05-welcome-email: solved it passes; without retries or the claim it fails.

Every patch of lessons 1-4 and the exercise's own are applied to a scratch
shop and graded on the harness, with the shop's own workers and the run's
mail sink. Then, on another copy, the task keeps being published on commit
but loses its retries and its claim: `retried` and `idempotent` must fail,
each with its own diagnosis, and the other budgets keep passing.
"""

from __future__ import annotations

import re

import pytest

from tests.lessons.conftest import graded_with_breaks

EXERCISE = "05-welcome-email"
TASKS = "shop_app/customers/tasks.py"
# Each edit takes one piece out of the patch's task: (file, pattern, replacement).
BREAKS = [
    # Declared without retries: the first failed send is final.
    (
        TASKS,
        r"^@shared_task\(\n(?:    .*\n)*\)\ndef",
        "@shared_task(acks_late=True)\ndef",
    ),
    # No claim: every run sends.
    (
        TASKS,
        r"^    with transaction\.atomic\(\):\n(?:        .*\n|\n)*",
        "    welcome_email_send(user_id=user_id)\n",
    ),
]


def _graded(tmp_path_factory, grade, course, name, breaks):
    root = tmp_path_factory.mktemp(name)
    graded = graded_with_breaks(root, grade, course, EXERCISE, [EXERCISE], breaks)
    return graded[EXERCISE]


@pytest.fixture(scope="module")
def solved(tmp_path_factory, grade, course):
    return _graded(tmp_path_factory, grade, course, "solved-05-email", [])


@pytest.fixture(scope="module")
def broken(tmp_path_factory, grade, course):
    return _graded(tmp_path_factory, grade, course, "broken-05-email", BREAKS)


def test_with_the_patch_every_budget_passes(solved, course):
    [exercise] = [e for e in course.exercises if e.id == EXERCISE]

    assert {name: b.points for name, b in solved.items()} == exercise.points


def test_without_retries_the_refused_send_is_final_and_the_fix_is_named(broken):
    budget = broken["retried"]

    assert not budget.passed
    assert budget.message.startswith(
        "send_welcome_email failed in the worker when the mail server refused "
        "the connection (SMTPConnectError(421, "
    ), budget.message
    assert re.search(
        r"\) and was not retried, so the email never arrived \(budget: retried "
        r"until the email is sent\)\. send_welcome_email failed at "
        r"shop_app/customers/tasks\.py:\d+\. ",
        budget.message,
    ), budget.message
    assert budget.message.endswith(
        "Let Celery retry it with a growing delay: @shared_task(autoretry_for="
        "(SMTPException,), retry_backoff=True, max_retries=5)."
    )


def test_without_the_claim_two_deliveries_send_two_emails(broken):
    budget = broken["idempotent"]

    assert not budget.passed
    assert re.match(
        r"send_welcome_email delivered twice for one user sent 2 welcome emails "
        r"to \S+@example\.com \(budget: exactly one\)\. .* send_welcome_email sent "
        r"them from shop_app/customers/tasks\.py:\d+\. Claim the welcome before "
        r"sending",
        budget.message,
    ), budget.message


def test_the_breaks_leave_publishing_and_delivery_passing(broken):
    assert {name: b.passed for name, b in broken.items()} == {
        "offloaded": True,
        "on-commit": True,
        "delivered": True,
        "retried": False,
        "idempotent": False,
    }
