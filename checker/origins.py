"""Where code runs: the project's own files, and template lines.

Every recorder needs to point at the line of the project that caused what it
recorded; this module decides which files are the project's and walks a stack
to the first of them, noting the template line on the way.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.template.base import Node

from checker.services.layout import project_root

__all__ = ["DEFAULT_ROOTS", "Location", "ProjectCode", "call_site"]

DEFAULT_ROOTS = ("shop_app",)

_OTHER, _PROJECT = 0, 1
_RENDER_ANNOTATED = Node.render_annotated.__code__


def _handler(request: Any) -> Any: ...


async def _async_handler(request: Any) -> Any: ...


# The wrapper Django puts around each handler of the middleware chain: a
# project line that called into it is a middleware passing the request on,
# not the origin of what the view then does.
_CHAIN_LINKS = frozenset(
    convert_exception_to_response(handler).__code__
    for handler in (_handler, _async_handler)
)


@dataclass(frozen=True, slots=True)
class Location:
    """A place in the project: a Python line or a template line."""

    path: str
    line: int
    in_project: bool = True

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class ProjectCode:
    """Which source files count as the project's own code.

    `roots` are directories (relative to `base` or absolute); the first frame
    under one of them is where a query "comes from". Read from the setting
    `CHECKER_PROJECT_ROOTS` when present, else the shop (`shop_app/`), and
    `base` from `CHECKER_PROJECT_BASE`, else this checkout.
    """

    roots: tuple[str, ...] = DEFAULT_ROOTS
    # The graded shop's checkout ($COURSE_ROOT when grading a copy), so that
    # file:line is found and shown relative to the submission.
    base: Path = field(default_factory=project_root)
    _kinds: dict[str, int] = field(default_factory=dict, compare=False)
    _classes: dict[type, Location | None] = field(default_factory=dict, compare=False)
    _locations: dict[tuple[str, int], Location] = field(
        default_factory=dict, compare=False
    )
    _prefixes: tuple[str, ...] = field(init=False, compare=False)
    _base: str = field(init=False, compare=False)

    @classmethod
    def from_settings(cls) -> ProjectCode:
        """Build from `settings.CHECKER_PROJECT_ROOTS`, defaulting to the shop."""
        from django.conf import settings

        roots = getattr(settings, "CHECKER_PROJECT_ROOTS", DEFAULT_ROOTS)
        # Another project names its own base (its BASE_DIR, say): installed,
        # the checker's own checkout is site-packages.
        base = getattr(settings, "CHECKER_PROJECT_BASE", None)
        return _project_code(
            tuple(str(root) for root in roots), str(base) if base else None
        )

    def __post_init__(self) -> None:
        prefixes = tuple(
            str((self.base / root).resolve()).rstrip("/") + "/" for root in self.roots
        )
        object.__setattr__(self, "_prefixes", prefixes)
        object.__setattr__(self, "_base", str(self.base).rstrip("/") + "/")

    def contains(self, filename: str) -> bool:
        """Tell whether a source file lies under one of the roots."""
        return filename.startswith(self._prefixes) and "/site-packages/" not in filename

    def relative(self, filename: str) -> str:
        """Return the path relative to the base when below it, else unchanged."""
        base = self._base
        return filename[len(base) :] if filename.startswith(base) else filename

    def lines_on_stack(self, frame: FrameType | None) -> tuple[str, ...]:
        """Return the project's `file:line`s on a stack, innermost first."""
        lines: list[str] = []
        while frame is not None:
            filename = frame.f_code.co_filename
            if self.contains(filename):
                lines.append(f"{self.relative(filename)}:{frame.f_lineno}")
            frame = frame.f_back
        return tuple(lines)

    def _file_kind(self, filename: str) -> int:
        """Classify a source file as project code or other, once."""
        # Keyed by file name: a str caches its hash, a code object does not.
        kind = self._kinds[filename] = _PROJECT if self.contains(filename) else _OTHER
        return kind

    def template_location(self, frame: FrameType) -> Location | None:
        """Return the template name and line a `render_annotated` frame renders."""
        node = frame.f_locals.get("self")
        origin = getattr(node, "origin", None)
        token = getattr(node, "token", None)
        if origin is None or token is None:
            return None
        name = str(origin.name)
        in_project = self.contains(name)
        path = self.relative(name) if in_project else str(origin.template_name or name)
        return Location(path, int(token.lineno), in_project)

    def locate(
        self, frame: FrameType | None
    ) -> tuple[Location | None, Location | None]:
        """Walk out from `frame`; return the first project line and template line.

        When no project line ran (a generic view rendering a declarative
        serializer, an admin column), fall back to the first method called on
        an instance of a project class, located at that class.
        """
        where, template = self.walk(frame, site=False)
        if where is None:
            where = self.owner_location(frame)
        return self.location(where), template

    def walk(self, frame: FrameType | None, *, site: bool) -> tuple[Any, Any]:
        """Return the first project line as (file, line), and the template line.

        With `site`, a project template line met first is returned instead,
        as the first item. A project middleware's call to the next handler
        is passed over. `kind()` is inlined: this runs for every frame of
        every query and cache call recorded.
        """
        template: Location | None = None
        kinds = self._kinds
        inner = None
        while frame is not None:
            code = frame.f_code
            if code is _RENDER_ANNOTATED:
                if template is None:
                    template = self.template_location(frame)
                    if site and template is not None:
                        if template.in_project:
                            return template, None
                        template = None
            else:
                filename = code.co_filename
                kind = kinds.get(filename)
                if kind is None:
                    kind = self._file_kind(filename)
                if kind == _PROJECT and inner not in _CHAIN_LINKS:
                    return (filename, frame.f_lineno), template
            inner = code
            frame = frame.f_back
        return None, template

    def site(self, frame: FrameType | None) -> str | None:
        """Return `file:line` of the innermost project line or project template line.

        Cache calls, task publishes and inline task runs point here: a
        `{% cache %}` tag is found at its template line.
        """
        return self.site_text(self.walk(frame, site=True)[0])

    def site_text(self, found: Any) -> str | None:
        """Turn what `walk(frame, site=True)` found first into `file:line`.

        A cache call keeps the (file, line) its walk found; this makes the
        `file:line` when someone reads the call.
        """
        if found is None:
            return None
        if isinstance(found, Location):
            return str(found)
        filename, line = found
        return f"{self.relative(filename)}:{line}"

    def location(self, where: Any) -> Location | None:
        """Turn a project line as `walk` found it into a Location (one per line)."""
        if where is None or isinstance(where, Location):
            return where
        found = self._locations.get(where)
        if found is None:
            filename, line = where
            found = self._locations[where] = Location(self.relative(filename), line)
        return found

    def owner_location(self, frame: FrameType | None) -> Location | None:
        """Return where the first project class whose method is on the stack is."""
        while frame is not None:
            code = frame.f_code
            if code.co_argcount and code.co_varnames[0] == "self":
                found = self.class_location(type(frame.f_locals.get("self")))
                if found is not None:
                    return found
            frame = frame.f_back
        return None

    def class_location(self, cls: type) -> Location | None:
        """Return where a class is defined, when that is in the project."""
        if cls not in self._classes:
            location = None
            module = sys.modules.get(cls.__module__)
            filename = getattr(module, "__file__", None) or ""
            if self.contains(filename):
                try:
                    line = inspect.findsource(cls)[1] + 1
                except (OSError, TypeError):
                    line = 1
                location = Location(self.relative(filename), line)
            self._classes[cls] = location
        return self._classes[cls]


@lru_cache(maxsize=16)
def _project_code(roots: tuple[str, ...], base: str | None) -> ProjectCode:
    # One instance per set of roots keeps its cache of classified code.
    if base is None:
        return ProjectCode(roots=roots)
    return ProjectCode(roots=roots, base=Path(base).resolve())


def call_site(frame: FrameType | None = None) -> str | None:
    """Return `file:line` of the first project line out from `frame` (the caller's)."""
    return ProjectCode.from_settings().site(frame or sys._getframe(1))
