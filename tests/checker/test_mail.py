"""A mail server that drops the first connections, and mail noted by call site."""

import smtplib

import pytest
from django.core import mail

from checker.mail import FlakyEmailBackend, sent_from, sent_via
from tests.checker.conftest import line_of
from tests.checker_testapp import tasks


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create(username="ada", email="ada@example.com")


@pytest.fixture
def flaky(settings, monkeypatch):
    settings.EMAIL_BACKEND = "checker.mail.FlakyEmailBackend"
    # The count of failures is read once per process: start afresh.
    monkeypatch.setattr(FlakyEmailBackend, "_failures_left", None)


def test_the_flaky_backend_fails_the_first_sends_then_delivers(flaky, monkeypatch):
    monkeypatch.setenv("CHECKER_MAIL_FAILURES", "2")
    for _ in range(2):
        with pytest.raises(smtplib.SMTPServerDisconnected) as raised:
            mail.send_mail("Hi", "Body", None, ["ada@example.com"])
        assert str(raised.value) == (
            "Connection unexpectedly closed: the mail server dropped the connection"
        )
    assert mail.send_mail("Hi", "Body", None, ["ada@example.com"]) == 1
    assert [(m.subject, m.to) for m in mail.outbox] == [("Hi", ["ada@example.com"])]


def test_the_flaky_backend_delivers_at_once_without_failures(flaky, monkeypatch):
    monkeypatch.delenv("CHECKER_MAIL_FAILURES", raising=False)
    assert mail.send_mail("Hi", "Body", None, ["ada@example.com"]) == 1
    assert len(mail.outbox) == 1


def test_the_recording_backend_notes_the_project_lines_that_sent(settings, user):
    settings.EMAIL_BACKEND = "checker.mail.RecordingEmailBackend"
    tasks.welcome_inline(user.pk)
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert sent_from(message) == line_of("tasks.py", 'send_mail("Welcome"')
    assert sent_via(message) == (
        line_of("tasks.py", 'send_mail("Welcome"'),
        line_of("tasks.py", "return send_welcome_email(user_id)"),
    )


def test_mail_sent_from_outside_the_project_has_no_call_site(settings):
    settings.EMAIL_BACKEND = "checker.mail.RecordingEmailBackend"
    mail.send_mail("Hi", "Body", None, ["ada@example.com"])
    assert [(sent_from(m), sent_via(m)) for m in mail.outbox] == [(None, ())]
