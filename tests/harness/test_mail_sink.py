"""The run's mail sink takes smtplib's mail over a Unix socket and names the sender."""

import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from checker.harness.mail_backend import UnixSMTP
from checker.harness.mail_sink import SOCKET_NAME, MailSink, ancestry

MESSAGE = (
    b"Subject: Welcome\r\nX-Course-Sent-From: shop_app/a.py:3 shop_app/b.py:9\r\n"
    b"\r\nHello,\r\n.a line starting with a dot\r\n"
)


@pytest.fixture
def sink():
    # Not pytest's tmp_path: a Unix socket path must stay under 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="mail-sink-"))
    with MailSink(folder / SOCKET_NAME) as started:
        yield started
    shutil.rmtree(folder, ignore_errors=True)


def _send(sink: MailSink, to: list[str]) -> None:
    with UnixSMTP(str(sink.path), timeout=5) as client:
        client.sendmail("shop@example.com", to, MESSAGE)


def test_a_message_is_recorded_with_its_recipients_subject_and_sites(sink):
    _send(sink, ["ana@example.com", "bo@example.com"])

    [message] = sink.messages()
    assert (message.sender, message.recipients, message.subject, message.sites) == (
        "shop@example.com",
        ("ana@example.com", "bo@example.com"),
        "Welcome",
        ("shop_app/a.py:3", "shop_app/b.py:9"),
    )
    assert message.data.endswith(b"\r\n.a line starting with a dot\r\n")


def test_the_sender_is_named_by_the_kernel_with_its_parents(sink):
    _send(sink, ["ana@example.com"])

    [message] = sink.messages()
    assert message.pids[:2] == (os.getpid(), os.getppid())
    assert message.sent_by(os.getppid())
    assert not message.sent_by(None)


def test_a_child_process_is_told_apart_from_its_parent(sink):
    script = (
        "import sys; from checker.harness.mail_backend import UnixSMTP\n"
        "with UnixSMTP(sys.argv[1], timeout=5) as c:\n"
        "    c.sendmail('a@x', ['b@y'], b'Subject: x\\r\\n\\r\\nhi\\r\\n')\n"
    )
    child = subprocess.run([sys.executable, "-c", script, str(sink.path)], check=True)

    [message] = sink.messages()
    assert child.returncode == 0
    assert message.pids[0] != os.getpid() and message.sent_by(os.getpid())


def test_a_refused_connection_gets_421_and_the_next_one_is_served(sink):
    sink.refuse(1)

    with pytest.raises(smtplib.SMTPConnectError) as refused:
        _send(sink, ["ana@example.com"])
    _send(sink, ["ana@example.com"])

    assert refused.value.smtp_code == 421
    assert len(sink.refusals()) == 1 and len(sink.messages()) == 1


def test_clear_forgets_messages_and_refusals(sink):
    sink.refuse(2)
    with pytest.raises(smtplib.SMTPConnectError):
        _send(sink, ["ana@example.com"])

    sink.clear()
    _send(sink, ["ana@example.com"])

    assert (len(sink.messages()), sink.refusals()) == (1, [])


def test_ancestry_starts_at_the_process_and_climbs_through_its_parent():
    chain = ancestry(os.getpid())

    assert chain[:2] == (os.getpid(), os.getppid())
