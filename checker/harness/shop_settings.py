"""The settings a run's shop and its workers start with: the shop's, plus the sink.

`checker.harness.run` names this module in DJANGO_SETTINGS_MODULE. Email
goes by SMTP to the run's mail sink (`checker.harness.mail_sink`), whose
socket is COURSE_MAIL_SOCKET, or `mail/smtp.sock` beside the run's home
folder.
"""

import os
from pathlib import Path

from django.core.mail.backends import locmem

from checker.harness.mail_backend import EmailBackend
from checker.harness.mail_sink import SOCKET_NAME
from config.settings.test import *  # noqa: F403

EMAIL_BACKEND = "checker.harness.mail_backend.EmailBackend"
EMAIL_HOST = os.environ.get("COURSE_MAIL_SOCKET") or str(
    Path(os.environ.get("HOME", ".")).parent / "mail" / SOCKET_NAME
)
EMAIL_TIMEOUT = 10

# The harness's agent calls setup_test_environment(), which points
# EMAIL_BACKEND at locmem once these settings are loaded; mail a request
# sends must still reach the sink, where the trusted side counts it.
locmem.EmailBackend = EmailBackend  # type: ignore[misc,assignment]

# A trusted test's settings for one process it starts (a worker, or the shop
# restarted), passed in the environment.
if os.environ.get("COURSE_BROKER_VISIBILITY_TIMEOUT"):
    # The Redis transport hands a message a killed worker left unacknowledged
    # back to its queue once it is older than the visibility timeout, when a
    # worker sweeps: every `unacked_restore_interval` seconds, scanning on
    # every `unacked_restore_throttle`-th sweep only. Sweep every second.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **globals().get("CELERY_BROKER_TRANSPORT_OPTIONS", {}),
        "visibility_timeout": float(os.environ["COURSE_BROKER_VISIBILITY_TIMEOUT"]),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
if os.environ.get("COURSE_ATOMIC_REQUESTS"):
    # Many projects run each request in a transaction.
    DATABASES["default"]["ATOMIC_REQUESTS"] = True  # noqa: F405
