"""Lesson 5's sales report and thumbnails: solved they pass, a piece out fails.

Every patch of lessons 1-5 is applied to a scratch shop and graded on the
harness, with the shop's own workers started by the trusted side. Then one
piece of each fix is taken out of another copy, and the budget that guards it
must fail with a message that says what broke and where. Each break leaves
the other budgets of its exercise passing.
"""

from __future__ import annotations

import re

import pytest

from tests.lessons.conftest import graded_with_breaks

GRADED = ("05-sales-report", "05-thumbnails")
# Each edit takes one piece out of a lesson 5 patch: (file, pattern, replacement).
BREAKS = [
    # The report's message is acknowledged as soon as a worker receives it.
    ("shop_app/orders/tasks.py", r"acks_late=True, reject_on_worker_lost=True", ""),
    # The report is built without a word of progress.
    (
        "shop_app/orders/tasks.py",
        r"sales_report_build\(progress=progress\)",
        "sales_report_build()",
    ),
    # The thumbnail leaves for the broker inside the transaction.
    (
        "shop_app/catalog/services.py",
        r"make_thumbnail\.delay_on_commit\(",
        "make_thumbnail.delay(",
    ),
    # The thumbnail goes to the default queue.
    ("shop_app/config/settings/base.py", r"^CELERY_TASK_ROUTES = .*\n", ""),
    # The task loads the image and makes nothing.
    ("shop_app/catalog/tasks.py", r"thumbnail_make\(product_image=(.*)\)$", r"\1"),
]
# The thumbnails' own queue, with workers that are never recycled.
NOT_RECYCLED = [
    ("shop_app/config/settings/base.py", r"^CELERY_WORKER_MAX_\w+ = .*\n", "")
]


def _graded(tmp_path_factory, grade, course, name, breaks):
    root = tmp_path_factory.mktemp(name)
    return graded_with_breaks(root, grade, course, "05-thumbnails", GRADED, breaks)


@pytest.fixture(scope="module")
def solved(tmp_path_factory, grade, course):
    return _graded(tmp_path_factory, grade, course, "solved-05", [])


@pytest.fixture(scope="module")
def broken(tmp_path_factory, grade, course):
    return _graded(tmp_path_factory, grade, course, "broken-05", BREAKS)


@pytest.fixture(scope="module")
def not_recycled(tmp_path_factory, grade, course):
    return _graded(tmp_path_factory, grade, course, "not-recycled-05", NOT_RECYCLED)


def test_with_the_patches_every_budget_passes(solved, course):
    expected = {e.id: set(e.points) for e in course.exercises if e.id in GRADED}

    assert {exercise: set(budgets) for exercise, budgets in solved.items()} == expected
    failed = {
        (exercise, name): budget.message
        for exercise, budgets in solved.items()
        for name, budget in budgets.items()
        if not budget.passed
    }
    assert failed == {}


def test_a_report_acknowledged_on_receipt_is_lost_with_its_killed_worker(broken):
    budget = broken["05-sales-report"]["acks-late"]

    assert not budget.passed
    assert budget.message.startswith(
        "build_sales_report was lost with the worker killed while it ran: the next "
        "worker on its queue never received it within 20 s. The message was "
        "acknowledged on receipt, so the broker had nothing to hand back. Set "
        "acks_late=True (and reject_on_worker_lost=True) on the task "
        "(shop_app/orders/tasks.py:"
    )
    assert "building the report twice is harmless (the task is idempotent)" in (
        budget.message
    )


def test_a_report_that_tells_no_progress_fails_the_status_budget(broken):
    budget = broken["05-sales-report"]["status"]

    assert not budget.passed
    assert re.match(
        r"build_sales_report stored the states \[[^\]]*'SUCCESS'\] and never "
        r"PROGRESS: no page can tell how far it has got\. Declare it with "
        r'bind=True and call self\.update_state\(state="PROGRESS", ',
        budget.message,
    ), budget.message
    assert re.search(r"\(shop_app/orders/tasks\.py:\d+\)\.$", budget.message)


def test_a_thumbnail_published_inside_the_transaction_fails_on_commit(broken):
    budget = broken["05-thumbnails"]["on-commit"]

    assert not budget.passed
    assert re.match(
        r"POST /products/[\w-]+/images/upload/ with ATOMIC_REQUESTS, whose "
        r"transaction failed to commit, published make_thumbnail inside a "
        r"transaction that rolled back from shop_app/catalog/services\.py:\d+ ",
        budget.message,
    ), budget.message
    assert budget.message.endswith(
        "Call `make_thumbnail.delay_on_commit(...)` instead of "
        "`make_thumbnail.delay(...)`."
    )


def test_a_thumbnail_on_the_default_queue_fails_the_queue_budget(broken):
    budget = broken["05-thumbnails"]["queue"]

    assert not budget.passed
    assert re.match(
        r"POST /products/[\w-]+/images/upload/ published make_thumbnail to queue "
        r"'celery' from shop_app/catalog/services\.py:\d+ \(budget: make_thumbnail "
        r"on queue 'images'\)",
        budget.message,
    ), budget.message
    assert re.search(
        r"Route it in shop_app/config/settings/base\.py:\d+: CELERY_TASK_ROUTES = "
        r'\{"catalog\.tasks\.make_thumbnail": \{"queue": "images"\}\}\.$',
        budget.message,
    ), budget.message


def test_an_images_queue_whose_workers_never_recycle_fails_the_queue_budget(
    not_recycled,
):
    budget = not_recycled["05-thumbnails"]["queue"]

    assert not budget.passed
    assert re.match(
        r"make_thumbnail goes to queue 'images', whose workers are never "
        r"recycled: a worker that opens large images keeps the memory\. Set "
        r"CELERY_WORKER_MAX_TASKS_PER_CHILD and/or "
        r"CELERY_WORKER_MAX_MEMORY_PER_CHILD \(KiB\) in "
        r"shop_app/config/settings/base\.py:\d+\.",
        budget.message,
    ), budget.message


def test_a_thumbnail_task_that_saves_nothing_fails_the_drained_budget(broken):
    budget = broken["05-thumbnails"]["drained"]

    assert not budget.passed
    assert re.match(
        r"The worker ran make_thumbnail \(shop_app/catalog/tasks\.py:\d+\) "
        r"successfully, and ProductImage \d+ still has no thumbnail: the task "
        r"must save one into ProductImage\.thumbnail\.",
        budget.message,
    ), budget.message


def test_the_budgets_no_piece_was_taken_from_still_pass(broken, not_recycled):
    assert broken["05-sales-report"]["offloaded"].passed
    assert broken["05-thumbnails"]["offloaded"].passed
    assert all(
        budget.passed
        for name, budget in not_recycled["05-thumbnails"].items()
        if name != "queue"
    )
    assert all(budget.passed for budget in not_recycled["05-sales-report"].values())
