"""A real Celery worker process drains its queue and reports each outcome."""

import contextlib
import socket

import pytest
from celery import current_app
from celery.app.backends import by_url
from celery.result import AsyncResult
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction

from checker.budgets import BudgetExceeded, assert_within
from checker.budgets.tasks import drained_by_worker
from checker.services import service_urls
from checker.tasks import TaskRecorder
from checker.worker import CeleryWorker, WorkerError, database_url
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


def _reachable(port):
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
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
    if not _reachable(5672):
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


# --- Emails, a failing mail server, pauses, kills and redelivery --------------

PAUSED = {"CHECKER_WORKER_PAUSE": "add=60,add_acked_late=60"}
# A queue such as a dedicated one for heavy work, which no test worker consumes.
ELSEWHERE = "checker-testapp-elsewhere"


def test_each_run_reports_the_emails_it_sent(course_worker):
    ids = [tasks.send_note.delay("ada@example.com").id, tasks.add.delay(1, 1).id]
    report = course_worker.drain(ids)
    assert [o.emails for o in report.outcomes] == [
        [{"subject": "Note", "to": ["ada@example.com"]}],
        [],
    ]


def test_a_failing_mail_server_fails_a_task_without_retries(course_worker_factory):
    worker = course_worker_factory(environment={"CHECKER_MAIL_FAILURES": "1"})
    with worker.routed():
        sent = tasks.send_note.delay("ada@example.com")
    report = worker.drain([sent.id])
    assert [(o.state, o.error, o.emails) for o in report.runs] == [
        (
            "failed",
            "SMTPServerDisconnected('Connection unexpectedly closed: the mail "
            "server dropped the connection')",
            [],
        )
    ]


def test_a_task_retried_after_the_mail_server_fails_sends_once(course_worker_factory):
    worker = course_worker_factory(environment={"CHECKER_MAIL_FAILURES": "1"})
    with worker.routed():
        sent = tasks.send_note_retrying.delay("ada@example.com")
    report = worker.drain([sent.id])
    assert [(o.state, o.retries, o.emails) for o in report.runs] == [
        ("retried", 0, []),
        ("succeeded", 1, [{"subject": "Note", "to": ["ada@example.com"]}]),
    ]


def test_a_paused_task_is_reported_started_and_others_run_at_once(
    course_worker_factory,
):
    worker = course_worker_factory(environment={"CHECKER_WORKER_PAUSE": "add=60"})
    with worker.routed():
        doubled = tasks.double.delay(4)
        added = tasks.add.delay(2, 3)
    assert [o.state for o in worker.drain([doubled.id]).outcomes] == ["succeeded"]
    assert worker.wait_started(added.id).name.endswith(".add")
    assert [(o.name.rsplit(".")[-1], o.state) for o in worker.outcomes()] == [
        ("double", "succeeded"),
        ("add", "started"),
    ]
    worker.kill()


def test_waiting_for_a_task_that_never_starts_names_the_queue(course_worker_factory):
    worker = course_worker_factory()
    with worker.routed():
        sent = tasks.add.delay(1, 1)
    worker.drain([sent.id])
    with pytest.raises(WorkerError) as raised:
        worker.wait_started(sent.id, timeout=0.1)
    assert str(raised.value) == (
        f"The Celery worker for queue {worker.queue} did not start task {sent.id} "
        "within 0.1 s; is it paused with CHECKER_WORKER_PAUSE?"
    )


def _killed_mid_task(factory, task):
    """Start `task` on a worker that pauses it, kill that worker, start another."""
    first = factory(environment=PAUSED)
    with first.routed():
        sent = task.delay(2, 3)
    first.wait_started(sent.id)
    first.kill()
    second = factory(
        queue=first.queue, environment={"CHECKER_BROKER_VISIBILITY_TIMEOUT": "1"}
    )
    return sent, second


def test_a_late_acked_task_reaches_the_next_worker_after_a_kill(
    course_worker_factory,
):
    sent, second = _killed_mid_task(course_worker_factory, tasks.add_acked_late)
    report = second.drain([sent.id], timeout=30)
    assert [(o.state, o.result) for o in report.outcomes] == [("succeeded", 5)]
    assert (report.queue_size, report.drained) == (0, True)


def test_an_early_acked_task_is_lost_with_a_killed_worker(course_worker_factory):
    sent, second = _killed_mid_task(course_worker_factory, tasks.add)
    # Long enough for the sweeps that hand back the late-acked task above.
    report = second.drain([sent.id], timeout=5)
    assert (report.outcomes, report.pending, report.queue_size) == ([], [sent.id], 0)


def test_tasks_bound_for_a_named_queue_can_be_routed_to_a_worker(course_worker):
    with (
        TaskRecorder() as recorder,
        course_worker.routed(queues=[ELSEWHERE]),
    ):
        routed = tasks.add.apply_async((1, 2), queue=ELSEWHERE)
    report = course_worker.drain([routed.id])
    assert [(o.state, o.result) for o in report.outcomes] == [("succeeded", 3)]
    assert [task.queue for task in recorder.published] == [course_worker.queue]


def test_tasks_bound_for_a_named_queue_keep_it_unless_routed(course_worker):
    with TaskRecorder() as recorder:
        tasks.add.apply_async((1, 2), queue=ELSEWHERE)
    with current_app.connection_for_write() as broker:
        broker.default_channel.queue_purge(ELSEWHERE)
    assert [task.queue for task in recorder.published] == [ELSEWHERE]


# --- The result backend ---------------------------------------------------------


def _results_round_trip(factory, results_url):
    """Run a task on a worker storing results at `results_url`; read it back here."""
    backend_class, url = by_url(results_url, current_app.loader)
    backend = backend_class(app=current_app, url=url)
    worker = factory(environment={"CELERY_RESULT_BACKEND": results_url})
    with worker.routed():
        sent = tasks.add.delay(20, 22)
    result = AsyncResult(sent.id, backend=backend, app=current_app)
    try:
        assert result.get(timeout=30) == 42
        assert result.state == "SUCCESS"
    finally:
        result.forget()


def test_task_results_round_trip_through_the_course_result_backend(
    course_worker_factory,
):
    _results_round_trip(course_worker_factory, service_urls().results)


def test_task_results_round_trip_through_an_external_redis(
    course_worker_factory, monkeypatch
):
    if not _reachable(6379):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    results = service_urls().results
    assert results == "redis://127.0.0.1:6379/3"
    _results_round_trip(course_worker_factory, results)
