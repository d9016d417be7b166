"""The task recorder: published or inline, inside a transaction or on commit."""

import contextlib
import json
import uuid
from decimal import Decimal

import pytest
from celery import current_app
from celery.app.task import Task
from django.contrib.auth.models import User
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from checker.budgets import BudgetExceeded, assert_within
from checker.budgets.tasks import task_offloaded, task_published_on_commit
from checker.tasks import TaskRecorder
from tests.checker_testapp import tasks

pytestmark = pytest.mark.services

TASKS = "tests/checker_testapp/tasks.py"


@pytest.fixture(autouse=True)
def scratch_queue():
    """Publish to a queue of this test's own, purged afterwards: no worker reads it."""
    queue = f"checker-scratch-{uuid.uuid4().hex[:8]}"
    previous = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = queue
    yield queue
    current_app.conf.task_default_queue = previous
    # Redis keeps no empty queue, so there may be nothing to purge.
    with (
        current_app.connection_for_write() as connection,
        contextlib.suppress(connection.channel_errors),
    ):
        connection.default_channel.queue_purge(queue)


@pytest.fixture
def user(db):
    return User.objects.create(username="ada", email="ada@example.com")


def test_a_published_task_is_recorded_with_its_arguments_and_queue(scratch_queue):
    with TaskRecorder() as recorder:
        result = tasks.add.delay(2, 3)
    [published] = recorder.published
    assert (published.name, published.id) == (
        "tests.checker_testapp.tasks.add",
        result.id,
    )
    assert (published.args, published.kwargs) == ([2, 3], {})
    assert published.queue == scratch_queue
    assert recorder.inline == []


def test_a_direct_call_runs_inline_and_publishes_nothing(user):
    with TaskRecorder() as recorder:
        assert tasks.welcome_inline(user.pk) == "ada@example.com"
    [inline] = recorder.inline
    assert (inline.name, inline.mode, inline.id) == (
        "tests.checker_testapp.tasks.send_welcome_email",
        "direct",
        None,
    )
    assert inline.call_site == f"{TASKS}:46"
    assert recorder.published == []


def test_apply_runs_inline_with_a_task_id():
    with TaskRecorder() as recorder:
        result = tasks.add.apply((1, 2))
    assert result.get() == 3
    [inline] = recorder.inline
    assert (inline.mode, inline.id, inline.args) == ("apply", result.id, [1, 2])
    assert recorder.published == []


def test_eager_mode_runs_inline_and_publishes_nothing():
    current_app.conf.task_always_eager = True
    try:
        with TaskRecorder() as recorder:
            tasks.add.delay(1, 2)
    finally:
        current_app.conf.task_always_eager = False
    assert [inline.mode for inline in recorder.inline] == ["apply"]
    assert recorder.published == []


def test_an_inline_failure_is_recorded_and_still_raised():
    with TaskRecorder() as recorder, pytest.raises(ValueError, match="boom"):
        tasks.fail("boom")
    assert recorder.inline[0].error == "ValueError('boom')"


def test_a_task_calling_another_task_is_one_inline_run():
    with TaskRecorder() as recorder:
        assert tasks.double(2) == 4
    assert [inline.name for inline in recorder.inline] == [
        "tests.checker_testapp.tasks.double"
    ]


@pytest.mark.django_db
def test_a_task_published_outside_any_transaction_is_not_in_one():
    with TaskRecorder() as recorder:
        tasks.add.delay(1, 1)
    [published] = recorder.published
    assert (published.in_transaction, published.on_commit) == (False, False)
    assert published.transaction == "none"


@pytest.mark.django_db
def test_a_task_published_inside_a_transaction_that_rolls_back_is_reported_so():
    with (
        TaskRecorder() as recorder,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        tasks.welcome_published(1)
        raise RuntimeError("payment declined")
    [published] = recorder.published
    assert published.in_transaction
    assert published.transaction == "rolled back"
    assert published.call_site == f"{TASKS}:51"


@pytest.mark.django_db
def test_a_task_published_inside_a_transaction_that_commits_is_still_early():
    with TaskRecorder() as recorder:
        tasks.user_signup(username="ada", on_commit=False)
    [published] = recorder.published
    assert (published.in_transaction, published.on_commit) == (True, False)
    assert published.transaction == "committed"
    assert published.call_site == f"{TASKS}:63"


@pytest.mark.django_db
def test_a_rollback_of_a_sibling_block_leaves_an_earlier_publish_committed():
    with TaskRecorder() as recorder:
        with transaction.atomic():
            tasks.add.delay(1, 1)
        with pytest.raises(RuntimeError), transaction.atomic():
            tasks.add.delay(2, 2)
            raise RuntimeError
    assert [task.transaction for task in recorder.published] == [
        "committed",
        "rolled back",
    ]


@pytest.mark.django_db
def test_a_task_published_on_commit_is_reported_on_commit(
    django_capture_on_commit_callbacks,
):
    with (
        TaskRecorder() as recorder,
        django_capture_on_commit_callbacks(execute=True),
    ):
        tasks.user_signup(username="ada", on_commit=True)
    [published] = recorder.published
    assert (published.in_transaction, published.on_commit) == (False, True)
    assert published.transaction == "on commit"


@pytest.mark.django_db
def test_delay_on_commit_in_a_rolled_back_transaction_publishes_nothing(
    django_capture_on_commit_callbacks,
):
    with (
        TaskRecorder() as recorder,
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        tasks.send_welcome_email.delay_on_commit(1)
        raise RuntimeError
    assert recorder.published == []


@pytest.mark.django_db(transaction=True)
def test_real_commits_and_rollbacks_settle_each_publish():
    with TaskRecorder() as recorder:
        tasks.user_signup(username="ada", on_commit=True)
        tasks.user_signup(username="bob", on_commit=False)
        with pytest.raises(RuntimeError), transaction.atomic():
            tasks.add.delay(1, 1)
            raise RuntimeError
    assert [
        (task.args, task.on_commit, task.transaction) for task in recorder.published
    ] == [
        ([User.objects.get(username="ada").pk], True, "on commit"),
        ([User.objects.get(username="bob").pk], False, "committed"),
        ([1, 1], False, "rolled back"),
    ]


@pytest.mark.django_db
def test_outside_a_block_the_hooks_record_nothing_and_return_the_same():
    with TaskRecorder() as earlier:
        tasks.add.delay(1, 1)
    wrapped = Task.__call__, BaseDatabaseWrapper.commit
    assert all(method.__wrapped__ is not method for method in wrapped)

    assert tasks.add(1, 2) == Task.__call__.__wrapped__(tasks.add, 1, 2) == 3
    with transaction.atomic():
        tasks.add.delay(2, 2)
    assert (len(earlier.published), earlier.inline) == (1, [])

    with TaskRecorder() as later:
        with transaction.atomic():
            tasks.add.delay(3, 3)
        tasks.add(1, 2)
    assert [(t.args, t.transaction) for t in later.published] == [([3, 3], "committed")]
    assert [task.args for task in later.inline] == [[1, 2]]
    assert (Task.__call__, BaseDatabaseWrapper.commit) == wrapped
    assert len(earlier.published) == 1


def test_to_dict_is_plain_json_data():
    with TaskRecorder() as recorder:
        tasks.add.delay(1, Decimal("1.5"))
        tasks.add(1, 2)
    data = json.loads(json.dumps(recorder.to_dict()))
    assert [task["name"] for task in data["published"]] == [
        "tests.checker_testapp.tasks.add"
    ]
    assert data["published"][0]["args"] == [1, "Decimal('1.5')"]
    assert "_sids" not in data["published"][0]
    assert data["inline"][0]["mode"] == "direct"


def test_the_offload_budget_fires_on_an_inline_run(user):
    with TaskRecorder() as recorder:
        tasks.welcome_inline(user.pk)
    subject = {"label": "POST /signup/", "tasks": recorder.to_dict()}
    with pytest.raises(BudgetExceeded) as raised:
        assert_within(subject, task_offloaded("send_welcome_email"))
    assert str(raised.value) == (
        "POST /signup/ ran send_welcome_email inline, called directly from "
        f"{TASKS}:46 (budget: send_welcome_email published to a worker, not run "
        "inline). Call `send_welcome_email.delay_on_commit(...)` instead of "
        "running it inline."
    )


def test_the_offload_budget_fires_when_nothing_is_published():
    with TaskRecorder() as recorder:
        pass
    verdict = task_offloaded("send_welcome_email").check(recorder)
    assert not verdict.met
    assert verdict.message == (
        "The measured code never published send_welcome_email (budget: "
        "send_welcome_email published to a worker, not run inline). Call "
        "`send_welcome_email.delay_on_commit(...)` where the work is triggered."
    )


@pytest.mark.django_db
def test_the_offload_budget_is_met_when_the_task_is_published():
    with TaskRecorder() as recorder:
        tasks.welcome_published(1)
    verdict = task_offloaded("send_welcome_email").check(recorder)
    assert verdict.met
    assert verdict.measured == "1 published, 0 inline"


@pytest.mark.django_db
def test_the_on_commit_budget_fires_on_a_publish_inside_the_transaction():
    with TaskRecorder() as recorder:
        tasks.user_signup(username="ada", on_commit=False)
    subject = {"label": "POST /signup/", "tasks": recorder.to_dict()}
    with pytest.raises(BudgetExceeded) as raised:
        assert_within(subject, task_published_on_commit("send_welcome_email"))
    assert str(raised.value) == (
        "POST /signup/ published send_welcome_email inside a transaction, before "
        f"it committed from {TASKS}:63 (budget: send_welcome_email published on "
        "commit): a worker can run it before the commit and miss the new rows. "
        "Call `send_welcome_email.delay_on_commit(...)` instead of "
        "`send_welcome_email.delay(...)`."
    )


@pytest.mark.django_db
def test_the_on_commit_budget_names_a_rolled_back_publish():
    with (
        TaskRecorder() as recorder,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        tasks.welcome_published(1)
        raise RuntimeError
    verdict = task_published_on_commit("send_welcome_email").check(recorder)
    assert not verdict.met
    assert verdict.message == (
        "The measured code published send_welcome_email inside a transaction that "
        f"rolled back from {TASKS}:51 (budget: send_welcome_email published on "
        "commit): the worker acts on data that never existed. Call "
        "`send_welcome_email.delay_on_commit(...)` instead of "
        "`send_welcome_email.delay(...)`."
    )


@pytest.mark.django_db
def test_the_on_commit_budget_is_met_by_delay_on_commit(
    django_capture_on_commit_callbacks,
):
    with (
        TaskRecorder() as recorder,
        django_capture_on_commit_callbacks(execute=True),
    ):
        tasks.user_signup(username="ada", on_commit=True)
    verdict = task_published_on_commit("send_welcome_email").check(recorder)
    assert verdict.met
    assert verdict.measured == "0 of 1 published inside a transaction"
