"""The trusted side reads what the shop published and what its tasks ended as."""

import base64
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from checker.harness.cache_server import CommandLog, RunRedis, WatchedCommand
from checker.harness.workers import (
    BROKER_DB,
    RESULTS_DB,
    broker_clear,
    database,
    error_text,
    publish_again,
    published,
    task_result,
)

TASK = "customers.tasks.send_welcome_email"


def _envelope(task_id: str = "t-1", retries: int = 0) -> bytes:
    body = base64.b64encode(json.dumps([[7], {}, {}]).encode()).decode()
    return json.dumps(
        {
            "body": body,
            "headers": {"task": TASK, "id": task_id, "retries": retries},
            "properties": {"delivery_tag": "tag-1", "body_encoding": "base64"},
        }
    ).encode()


def _log(*commands: WatchedCommand) -> CommandLog:
    return CommandLog(list(commands))


def _lpush(queue: bytes, *values: bytes, db: int = BROKER_DB) -> WatchedCommand:
    return WatchedCommand(db, "unix:x", "LPUSH", (queue, *values))


@pytest.fixture
def server():
    # Not pytest's tmp_path: a Unix socket path must stay under 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="workers-"))
    with RunRedis(folder / "redis.sock", folder=folder) as started:
        yield started
    shutil.rmtree(folder, ignore_errors=True)


def test_a_task_message_pushed_to_the_broker_is_read_with_its_task_and_args():
    log = _log(_lpush(b"celery\x06\x163", _envelope(retries=2)))

    [message] = published(log, "send_welcome_email")

    assert (message.queue, message.task, message.id, message.retries) == (
        "celery",
        TASK,
        "t-1",
        2,
    )
    assert (message.short, message.args) == ("send_welcome_email", (7,))


def test_pushes_to_other_databases_other_tasks_and_non_messages_are_left_out():
    log = _log(
        _lpush(b"celery", _envelope(), db=0),
        _lpush(b"celery", b"not json"),
        WatchedCommand(BROKER_DB, "unix:x", "SADD", (b"celery", _envelope())),
    )

    assert published(log) == []
    assert published(_log(_lpush(b"celery", _envelope())), "build_sales_report") == []


def test_a_message_published_again_keeps_its_task_id_with_a_new_delivery_tag(server):
    [message] = published(_log(_lpush(b"celery", _envelope())))

    publish_again(server, message)

    [copy] = database(server, BROKER_DB).lrange("celery", 0, -1)
    envelope = json.loads(copy)
    assert envelope["headers"]["id"] == "t-1"
    assert envelope["properties"]["delivery_tag"] != "tag-1"


def test_clearing_the_broker_keeps_only_the_queue_bindings(server):
    broker, results = database(server, BROKER_DB), database(server, RESULTS_DB)
    broker.lpush("celery", b"m")
    broker.hset("unacked", "tag", b"m")
    broker.sadd("_kombu.binding.celery", b"celery")
    results.set("celery-task-meta-t-1", b"{}")

    broker_clear(server)

    assert broker.keys() == [b"_kombu.binding.celery"]
    assert results.keys() == []


def test_a_failed_task_reads_as_its_exception(server):
    meta = {
        "status": "FAILURE",
        "result": {"exc_type": "SMTPConnectError", "exc_message": [421, "busy"]},
    }
    database(server, RESULTS_DB).set("celery-task-meta-t-1", json.dumps(meta))

    stored = task_result(server, "t-1")

    assert error_text(stored) == "SMTPConnectError(421, 'busy')"
    assert task_result(server, "t-2") == {}
