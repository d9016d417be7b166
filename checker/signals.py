"""Signals the checker sends, for other tools (an error reporter) to listen to.

from django.dispatch import receiver
from checker.signals import n_plus_one_detected

@receiver(n_plus_one_detected)
def report(sender, n_plus_one, **kwargs):
    sentry_sdk.capture_message(n_plus_one.message, level="warning")
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["n_plus_one_detected"]

# Sent once per N+1 found (and not allowed) by `checker.detect`, whether it
# then raises or warns, with `sender` the `NPlusOne` class and `n_plus_one`
# the finding: its `label`, `relation`, `origin`, `count`, `fix` and `message`.
n_plus_one_detected = Signal()
