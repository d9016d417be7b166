"""Email backends for grading: a mail server that fails, and one that records.

`FlakyEmailBackend` runs in the checker's Celery worker when
`CHECKER_MAIL_FAILURES` is set: its first N sends in the process raise the
error a real SMTP server gives when it drops the connection, so a task's
retries are exercised on a real worker and a real broker.
`RecordingEmailBackend` notes the lines of project code that sent each message.
"""

from __future__ import annotations

import os
import smtplib
import sys
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from django.core.mail import EmailMessage
from django.core.mail.backends import locmem

from checker.origins import ProjectCode

__all__ = [
    "FAILURES_ENV",
    "FlakyEmailBackend",
    "RecordingEmailBackend",
    "sent_from",
    "sent_via",
]

FAILURES_ENV = "CHECKER_MAIL_FAILURES"
_SENT_FROM = "checker_sent_from"


class FlakyEmailBackend(locmem.EmailBackend):
    """Keep mail in `django.core.mail.outbox`, failing the first N sends.

    N is read from `CHECKER_MAIL_FAILURES` on the first send of the process.
    """

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _failures_left: ClassVar[int | None] = None

    def send_messages(self, messages: Sequence[EmailMessage]) -> int:
        """Raise SMTPServerDisconnected while failures are left, else send."""
        with FlakyEmailBackend._lock:
            if FlakyEmailBackend._failures_left is None:
                FlakyEmailBackend._failures_left = int(os.environ.get(FAILURES_ENV, 0))
            failing = FlakyEmailBackend._failures_left > 0
            if failing:
                FlakyEmailBackend._failures_left -= 1
        if failing:
            raise smtplib.SMTPServerDisconnected(
                "Connection unexpectedly closed: the mail server dropped the connection"
            )
        return super().send_messages(messages)


class RecordingEmailBackend(locmem.EmailBackend):
    """Keep mail in `django.core.mail.outbox`, noting where each was sent from."""

    def send_messages(self, messages: Sequence[EmailMessage]) -> int:
        """Send as the locmem backend does, noting the project lines on the stack."""
        sites = ProjectCode.from_settings().lines_on_stack(sys._getframe(1))
        for message in messages:
            setattr(message, _SENT_FROM, sites)
        return super().send_messages(messages)


def sent_via(message: Any) -> tuple[str, ...]:
    """Return the project lines that sent `message`, innermost first."""
    return tuple(getattr(message, _SENT_FROM, ()))


def sent_from(message: Any) -> str | None:
    """Return `file:line` of the innermost project line that sent `message`."""
    return next(iter(sent_via(message)), None)
