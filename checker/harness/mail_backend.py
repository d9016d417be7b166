"""Send the shop's email by SMTP to the run's mail sink, over a Unix socket.

Selected by `checker.harness.shop_settings`, with EMAIL_HOST the sink's
socket path. Each message carries the project lines that sent it
(`checker.harness.mail_sink.SITES_HEADER`), for the diagnosis only: which
process sent it, the sink learns from the kernel.
"""

from __future__ import annotations

import smtplib
import socket
import sys
from collections.abc import Sequence
from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends import smtp

from checker.harness.mail_sink import SITES_HEADER
from checker.origins import ProjectCode

__all__ = ["EmailBackend", "UnixSMTP"]


class UnixSMTP(smtplib.SMTP):
    """An SMTP client whose host is the path of a Unix socket, as LMTP's is."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
            connection.settimeout(timeout)
        try:
            connection.connect(host)
        except OSError:
            connection.close()
            raise
        return connection


class EmailBackend(smtp.EmailBackend):
    """Django's SMTP backend, connected to the Unix socket in EMAIL_HOST."""

    @property
    def connection_class(self) -> Any:
        return UnixSMTP

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Note the project lines on the stack in each message, then send."""
        sites = ProjectCode.from_settings().lines_on_stack(sys._getframe(1))
        for message in email_messages:
            message.extra_headers[SITES_HEADER] = " ".join(sites)
        return super().send_messages(email_messages)
