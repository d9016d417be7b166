"""The error receiver stores what the real Sentry SDK sends, and refuses the rest."""

from __future__ import annotations

import gzip
import subprocess
import sys
import time

import httpx
import pytest
import sentry_sdk

from checker.harness.served import free_port
from checker.services.errors import EnvelopeError, ErrorReceiver, envelope_parse


@pytest.fixture
def receiver(tmp_path):
    with ErrorReceiver(port=free_port(), store=tmp_path / "store") as service:
        yield service


def test_an_exception_sent_by_sentry_sdk_arrives_with_release_and_trace(receiver):
    sentry_sdk.init(dsn=receiver.dsn(), release="r-1", environment="suite")
    try:
        try:
            {}["missing"]
        except KeyError:
            sentry_sdk.capture_exception()
        sentry_sdk.flush(5)
    finally:
        sentry_sdk.init(dsn=None)

    [event] = receiver.events()
    [value] = event["exception"]["values"]
    assert (value["type"], event["release"], event["environment"]) == (
        "KeyError",
        "r-1",
        "suite",
    )
    assert value["stacktrace"]["frames"][-1]["function"] == (
        "test_an_exception_sent_by_sentry_sdk_arrives_with_release_and_trace"
    )
    assert len(list(receiver.store.iterdir())) == 1


def test_a_gzipped_envelope_is_decoded(receiver):
    body = b'{"event_id":"ab"}\n{"type":"event"}\n{"message":"hello"}\n'

    response = httpx.post(
        f"http://127.0.0.1:{receiver.port}/api/1/envelope/",
        content=gzip.compress(body),
        headers={"content-encoding": "gzip"},
    )

    assert response.json() == {"id": "ab"}
    assert receiver.events() == [{"message": "hello"}]


def test_a_body_that_is_not_an_envelope_is_refused_and_not_stored(receiver):
    response = httpx.post(
        f"http://127.0.0.1:{receiver.port}/api/1/envelope/", content=b"hello"
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "not a Sentry envelope: the envelope's first line is not JSON"
    )
    assert receiver.envelopes() == []
    assert not receiver.store.exists()


def test_another_path_is_answered_with_the_envelope_endpoint(receiver):
    response = httpx.get(f"http://127.0.0.1:{receiver.port}/api/1/store/")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "send envelopes with POST /api/<project id>/envelope/"
    }


def test_an_item_with_a_length_may_hold_newlines():
    raw = b'{}\n{"type":"attachment","length":5}\na\nb\nc\n{"type":"event"}\n{}\n'

    envelope = envelope_parse(raw)

    assert [payload for _, payload in envelope.items] == [b"a\nb\nc", b"{}"]


def test_an_item_shorter_than_its_length_is_an_error():
    with pytest.raises(EnvelopeError, match="item 1 says 9 bytes, 3 follow"):
        envelope_parse(b'{}\n{"type":"event","length":9}\n{}\n')


def test_the_relay_carries_a_command_s_reports_to_the_receiver_s_socket(tmp_path):
    socket = tmp_path / "errors.sock"
    port = free_port()
    script = (
        "import sentry_sdk; "
        f"sentry_sdk.init(dsn='http://course@127.0.0.1:{port}/1', release='relayed'); "
        "sentry_sdk.capture_message('through the relay'); sentry_sdk.flush(5)"
    )
    with ErrorReceiver(socket=socket) as receiver:
        command = [
            sys.executable, "-m", "checker.services.errors", "--forward",
            str(socket), "--port", str(port), "--",
            sys.executable, "-c", script,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, timeout=60)
        deadline = time.monotonic() + 5
        while not receiver.events() and time.monotonic() < deadline:
            time.sleep(0.05)

    assert done.returncode == 0, done.stderr
    [event] = receiver.events()
    assert (event["message"], event["release"]) == ("through the relay", "relayed")
