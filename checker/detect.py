"""Find N+1s in a measured block, then raise or warn, and tell any listener.

    from checker.detect import no_n_plus_one

    with no_n_plus_one("GET /posts/"):
        client.get("/posts/")

`mode` is "raise" (an `NPlusOneDetected`, an `AssertionError` that tests
report as a failure) or "warn" (an `NPlusOneWarning`); by default the setting
`CHECKER_NPLUSONE_MODE`, else "raise". Every N+1 found and not allowed by
`CHECKER_NPLUSONE_ALLOW` is sent as `checker.signals.n_plus_one_detected`
first, whichever the mode.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from django.core.exceptions import ImproperlyConfigured

from checker.allowlist import Allowlist
from checker.budgets import BudgetExceeded, check_all
from checker.budgets.nplusone import NoNPlusOne, n_plus_one_groups
from checker.budgets.queries import describe_group, label_of
from checker.measure import Measurement, measure
from checker.signals import n_plus_one_detected

__all__ = [
    "Mode",
    "NPlusOne",
    "NPlusOneDetected",
    "NPlusOneWarning",
    "checked_mode",
    "find_n_plus_ones",
    "mode_from_settings",
    "no_n_plus_one",
    "report_n_plus_ones",
]

Mode = Literal["raise", "warn"]
MODES: tuple[Mode, ...] = ("raise", "warn")


class NPlusOneDetected(BudgetExceeded):
    """A measured block loaded a relation once per row."""


class NPlusOneWarning(UserWarning):
    """A measured block loaded a relation once per row (warning mode)."""


@dataclass(frozen=True)
class NPlusOne:
    """One N+1 found: which relation, from where, how many queries, the fix."""

    label: str
    relation: str
    origin: str | None
    count: int
    fix: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as plain JSON data."""
        return {
            "label": self.label,
            "relation": self.relation,
            "origin": self.origin,
            "count": self.count,
            "fix": self.fix,
            "message": self.message,
        }


def mode_from_settings() -> Mode:
    """Return `settings.CHECKER_NPLUSONE_MODE`, "raise" when unset."""
    from django.conf import settings

    return checked_mode(getattr(settings, "CHECKER_NPLUSONE_MODE", "raise"))


def _is_mode(mode: object) -> TypeGuard[Mode]:
    return mode in MODES


def checked_mode(mode: object) -> Mode:
    """Return the mode if it is one, else say which ones there are."""
    if not _is_mode(mode):
        raise ImproperlyConfigured(
            f"CHECKER_NPLUSONE_MODE (or mode=) is {mode!r}: use"
            ' "raise" to fail on an N+1 or "warn" to report it and go on.'
        )
    return mode


def find_n_plus_ones(
    measurement: Measurement, *, allowlist: Allowlist | None = None
) -> list[NPlusOne]:
    """Return the block's N+1s not on the allow-list, each with its message."""
    label = label_of(measurement)
    found = []
    for group in n_plus_one_groups(measurement, allowlist):
        origin = group.origin
        found.append(
            NPlusOne(
                label=label,
                relation=str(group.access),
                origin=str(origin) if origin else None,
                count=group.count,
                fix=group.fix(),
                message=f"{label} ran an N+1: {describe_group(group, kind='similar')}",
            )
        )
    return found


def report_n_plus_ones(
    measurement: Measurement,
    *,
    mode: Mode | None = None,
    allowlist: Allowlist | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[NPlusOne]:
    """Send the signal for each N+1, then raise, or `warn` (a Python warning).

    In "raise" mode the exception's message is the `no N+1` budget's, the
    same text a test asserting that budget would fail with.
    """
    mode = checked_mode(mode) if mode is not None else mode_from_settings()
    allowlist = allowlist if allowlist is not None else Allowlist.from_settings()
    found = find_n_plus_ones(measurement, allowlist=allowlist)
    for n_plus_one in found:
        n_plus_one_detected.send(sender=NPlusOne, n_plus_one=n_plus_one)
    if not found:
        return found
    if mode == "raise":
        # The verdict goes through check_all so that the pytest plugin
        # records it with the test's other verdicts.
        [verdict] = check_all(measurement, NoNPlusOne(allowlist=allowlist))
        raise NPlusOneDetected(verdict.message)
    for n_plus_one in found:
        if warn is None:
            warnings.warn(n_plus_one.message, NPlusOneWarning, stacklevel=4)
        else:
            warn(n_plus_one.message)
    return found


@contextmanager
def no_n_plus_one(
    label: str = "",
    *,
    mode: Mode | None = None,
    allowlist: Allowlist | None = None,
    **options: Any,
) -> Iterator[Measurement]:
    """Measure the block's queries; raise or warn on each N+1 it ran.

    Options go to `measure()`; only queries are recorded unless asked for.
    """
    for part in ("cache", "tasks", "memory"):
        options.setdefault(part, False)
    with measure(label, **options) as measurement:
        yield measurement
    report_n_plus_ones(measurement, mode=mode, allowlist=allowlist)
