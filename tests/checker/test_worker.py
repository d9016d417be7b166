"""A real Celery worker process drains its queue and reports each outcome."""

import contextlib
import socket

import pytest
from celery import current_app
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction

from checker.budgets import BudgetExceeded, assert_within
from checker.budgets.tasks import drained_by_worker
from checker.services import service_urls
from checker.tasks import TaskRecorder
from checker.worker import CeleryWorker, database_url
from tests.checker_testapp import tasks

pytestmark = pytest.mark.services

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def _worker(broker_url):
    return CeleryWorker(
        broker_url=broker_url,
        outcomes_url=service_urls().redis,
        database_url=database_url(connection.settings_dict),
        settings_module=settings.SETTINGS_MODULE,
    )


def _rabbitmq_reachable():
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5672), 1):
        return True
    return False


def test_the_worker_drains_the_queue_and_reports_success_failure_and_retry(
    course_worker,
):
    ids = [
        tasks.add.delay(1, 2).id,
        tasks.fail.delay("boom").id,
        tasks.succeed_on_retry.delay("done").id,
    ]
    report = course_worker.drain(ids)
    assert [(o.name.rsplit(".")[-1], o.state) for o in report.outcomes] == [
        ("add", "succeeded"),
        ("fail", "failed"),
        ("succeed_on_retry", "succeeded"),
    ]
    assert [o.result for o in report.outcomes] == [3, None, "done"]
    assert report.outcomes[1].error == "ValueError('boom')"
    assert report.outcomes[2].retries == 1
    assert "retried" in [run.state for run in report.runs if run.id == ids[2]]
    assert all(run.runtime >= 0 for run in report.runs)
    assert (report.pending, report.queue_size, report.drained) == ([], 0, True)
    with pytest.raises(BudgetExceeded) as raised:
        assert_within(report, drained_by_worker())
    assert str(raised.value) == (
        "The worker finished 2 of 3 tasks successfully (budget: every task drained "
        "by the worker and succeeded). Failed in the worker: fail raised "
        "ValueError('boom')."
    )


def test_the_drain_budget_is_met_when_every_task_succeeds(course_worker):
    report = course_worker.drain([tasks.add.delay(2, 2).id, tasks.double.delay(3).id])
    assert [o.result for o in report.outcomes] == [4, 6]
    verdict = drained_by_worker().check(report)
    assert verdict.met
    assert verdict.measured == "2 of 2 succeeded"


def test_a_task_not_registered_in_the_worker_is_reported_unknown(course_worker):
    sent = current_app.send_task("tests.checker_testapp.tasks.nowhere")
    report = course_worker.drain([sent.id])
    assert [o.state for o in report.outcomes] == ["unknown"]
    verdict = drained_by_worker().check(report)
    assert verdict.message.endswith(
        "Not registered in the worker: nowhere; define it with @shared_task in an "
        "app's tasks.py so that autodiscovery finds it."
    )


@pytest.mark.django_db(transaction=True)
def test_a_task_published_on_commit_finds_its_rows_in_the_worker(course_worker):
    with TaskRecorder() as recorder:
        tasks.user_signup(username="ada", on_commit=True)
    report = course_worker.drain(recorder)
    assert [(o.state, o.result) for o in report.outcomes] == [
        ("succeeded", "ada@example.com")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_task_published_before_the_commit_misses_its_rows_in_the_worker(
    course_worker,
):
    with transaction.atomic():
        user = User.objects.create(username="ada", email="ada@example.com")
        # Wait for the worker inside the transaction: the row is not committed.
        report = course_worker.drain([tasks.send_welcome_email.delay(user.pk).id])
    verdict = drained_by_worker().check(report)
    assert not verdict.met
    assert verdict.message == (
        "The worker finished 0 of 1 tasks successfully (budget: every task drained "
        "by the worker and succeeded). Failed in the worker: send_welcome_email "
        "raised DoesNotExist('User matching query does not exist.'). Publish it on "
        "commit so that the worker sees the committed rows."
    )


@pytest.mark.django_db
def test_tasks_on_a_queue_no_worker_consumes_are_reported_pending():
    idle = _worker(current_app.conf.broker_url)
    sent = tasks.add.apply_async((1, 1), queue=idle.queue)
    try:
        report = idle.drain([sent.id], timeout=0.2)
    finally:
        with current_app.connection_for_write() as broker:
            broker.default_channel.queue_purge(idle.queue)
    assert (report.pending, report.queue_size, report.drained) == ([sent.id], 1, False)
    verdict = drained_by_worker().check(report)
    assert verdict.message == (
        "The worker finished 0 of 1 tasks successfully (budget: every task drained "
        "by the worker and succeeded). Never finished: 1 task; is a worker "
        f"consuming queue {idle.queue!r}, and does the task end in time? "
        "Still queued: 1 message."
    )


@pytest.fixture(scope="module")
def rabbitmq_worker(django_db_setup):
    if not _rabbitmq_reachable():
        pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672")
    worker = _worker(RABBITMQ)
    worker.start()
    yield worker
    worker.stop()


def test_the_worker_drains_a_rabbitmq_queue_too(rabbitmq_worker):
    with current_app.connection_for_write(RABBITMQ) as broker:
        ids = [
            tasks.add.apply_async(
                (5, 5), queue=rabbitmq_worker.queue, connection=broker
            ).id,
            tasks.fail.apply_async(
                ("boom",), queue=rabbitmq_worker.queue, connection=broker
            ).id,
        ]
    report = rabbitmq_worker.drain(ids)
    assert [(o.state, o.result) for o in report.outcomes] == [
        ("succeeded", 10),
        ("failed", None),
    ]
    assert (report.queue_size, report.drained) == (0, True)
