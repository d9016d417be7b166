"""Check that a write invalidates what the cache serves: read, write, read again.

The second read must equal a fresh render. The fresh render runs the same
read with every cache alias swapped for Django's `DummyCache`, so each lookup
misses and the data comes from the database through the learner's own code.
Swapping, rather than clearing the cache, leaves the cached entries exactly
as the code left them (the page that was stale stays stale for the next
reader) and touches no other keys on a shared Redis. Sessions kept in the
cache are not visible to the fresh read, so read pages that need no login.
"""

from __future__ import annotations

import difflib
import pprint
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.test.utils import override_settings

__all__ = [
    "StaleCheck",
    "check_invalidation",
    "diff_lines",
    "fresh_render",
    "uncached",
]

_DUMMY = "django.core.cache.backends.dummy.DummyCache"
# A masked CSRF token differs on every render, cached or not.
_CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')
_MAX_DIFF_LINES = 20


@dataclass(frozen=True)
class StaleCheck:
    """The verdict of one read-write-read scenario, with what was stale."""

    label: str
    # True when the read after the write differs from a fresh render.
    stale: bool
    # False when the write did not change the fresh render: nothing to see.
    changed: bool
    before: str
    after: str
    fresh: str
    diff: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as plain JSON data."""
        return asdict(self)


def uncached() -> override_settings:
    """Return a settings override that turns every cache alias into a DummyCache."""
    return override_settings(
        CACHES={alias: {"BACKEND": _DUMMY} for alias in settings.CACHES}
    )


def as_text(value: Any) -> str:
    """Return what a read produced as comparable text."""
    content = getattr(value, "content", None)
    if isinstance(content, bytes):
        value = content
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        value = pprint.pformat(value, width=88, sort_dicts=True)
    return _CSRF.sub(r"\1…\2", value)


def fresh_render(read: Callable[[], Any]) -> str:
    """Run `read` with every cache lookup missing; return its text."""
    with uncached():
        return as_text(read())


def diff_lines(expected: list[str], served: list[str], *, source: str) -> list[str]:
    """Return the lines of `served` that differ from `expected` (named `source`).

    A unified diff without context, cut to what a terminal shows at once.
    """
    lines = list(
        difflib.unified_diff(
            expected, served, source, "served after the write", n=0, lineterm=""
        )
    )
    if len(lines) > _MAX_DIFF_LINES:
        more = len(lines) - _MAX_DIFF_LINES
        lines = [*lines[:_MAX_DIFF_LINES], f"... {more} more lines"]
    return lines


def check_invalidation(
    read: Callable[[], Any], write: Callable[[], Any], *, label: str = ""
) -> StaleCheck:
    """Read (warming the cache), write, read again; compare with a fresh read."""
    before = as_text(read())
    write()
    after = as_text(read())
    fresh = fresh_render(read)
    return StaleCheck(
        label=label,
        stale=after != fresh,
        changed=before != fresh,
        before=before,
        after=after,
        fresh=fresh,
        diff=diff_lines(
            fresh.splitlines(), after.splitlines(), source="fresh (uncached)"
        )
        if after != fresh
        else [],
    )
