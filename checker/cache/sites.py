"""Find the project line behind a call: a file in shop_app/ or a template."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from types import FrameType

from checker.services.layout import project_root

__all__ = ["call_site"]

_PROJECT_DIRS = ("shop_app", "tests/checker_testapp")


def _project_path(filename: str) -> str | None:
    if filename.startswith("<"):
        return None
    try:
        relative = Path(filename).resolve().relative_to(project_root()).as_posix()
    except ValueError:
        return None
    if relative.startswith(tuple(f"{folder}/" for folder in _PROJECT_DIRS)):
        return relative
    return None


@functools.lru_cache(maxsize=4096)
def _cached_project_path(filename: str) -> str | None:
    return _project_path(filename)


def _template_site(frame: FrameType) -> str | None:
    # A `{% cache %}` tag runs inside Django's template code; its node knows
    # the template file and line, which is where the learner should look.
    node = frame.f_locals.get("self")
    origin = getattr(node, "origin", None)
    token = getattr(node, "token", None)
    name = getattr(origin, "name", None)
    if not isinstance(name, str) or token is None:
        return None
    path = _cached_project_path(name)
    return f"{path}:{token.lineno}" if path else None


def call_site(frame: FrameType | None = None) -> str | None:
    """Return `file:line` of the first frame in project code, or None."""
    frame = frame or sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        path = _cached_project_path(filename)
        if path:
            return f"{path}:{frame.f_lineno}"
        if "django/template" in filename:
            site = _template_site(frame)
            if site:
                return site
        frame = frame.f_back
    return None
