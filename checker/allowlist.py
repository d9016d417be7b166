"""Known, accepted N+1s: an allow-list read from `settings.CHECKER_NPLUSONE_ALLOW`.

Each entry names a relation, `"Model.field"`, optionally followed by ` @ ` and
a call site: `path.py:line`, a file `path.py`, a template line, or a function
(`post_list`, `PostList.get_queryset`, `blog.views.post_list`):

    CHECKER_NPLUSONE_ALLOW = [
        "Post.tags",                          # anywhere
        "Comment.author @ blog/views.py:31",  # at this line only
        "Post.author @ feed_items",           # inside this function
    ]

An entry that silenced nothing is stale: `stale_entries()` names those never
matched so far (the pytest plugin lists them when a session ends), and
`missing_entries()` those whose relation or call site no longer exists (the
middleware logs them on startup).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

from checker.origins import ProjectCode

if TYPE_CHECKING:
    from checker.groups import QueryGroup
    from checker.queries import CapturedQuery

__all__ = [
    "AllowEntry",
    "Allowlist",
    "missing_entries",
    "stale_entries",
]

SETTING = "CHECKER_NPLUSONE_ALLOW"
_RELATION = re.compile(r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$")
_LINE = re.compile(r"^(?P<path>.+\.\w+):(?P<line>\d+)$")


@dataclass(frozen=True)
class AllowEntry:
    """One accepted N+1: a relation, and where it may happen (anywhere if "")."""

    relation: str
    site: str = ""

    def __str__(self) -> str:
        return f"{self.relation} @ {self.site}" if self.site else self.relation

    @classmethod
    def parse(cls, text: object) -> AllowEntry:
        """Read one entry of the setting; refuse one that cannot match anything."""
        if not isinstance(text, str):
            raise ImproperlyConfigured(
                f"{SETTING} holds {text!r}: each entry is a string like"
                ' "Post.author" or "Post.author @ blog/views.py:12".'
            )
        relation, _, site = (part.strip() for part in text.partition("@"))
        if not _RELATION.match(relation):
            raise ImproperlyConfigured(
                f"{SETTING} entry {text!r} does not start with Model.field: write"
                ' the model\'s class name and the relation, as in "Post.author".'
            )
        if "@" in text and not site:
            raise ImproperlyConfigured(
                f"{SETTING} entry {text!r} has nothing after @: name a call site"
                ' (blog/views.py:12, or a function) or drop the "@".'
            )
        return cls(relation, site)

    def matches(self, group: QueryGroup, project: ProjectCode) -> bool:
        """Tell whether this entry accepts the N+1 a group of queries is."""
        if self.relation != str(group.access):
            return False
        return not self.site or any(
            _site_matches(self.site, query, project) for query in group.suspects
        )

    def missing(self, project: ProjectCode) -> str | None:
        """Say why the entry can match nothing in the code as it is, if so."""
        from django.apps import apps

        model_name, field = self.relation.split(".", 1)
        models = [m for m in apps.get_models() if m.__name__ == model_name]
        if not models:
            return f"no installed model is named {model_name}"
        if not any(hasattr(model, field) for model in models):
            return f"{model_name} has no relation {field}"
        if not self.site:
            return None
        line = _LINE.match(self.site)
        if line:
            path = project.base / line["path"]
            if not path.is_file():
                return f"{line['path']} does not exist"
            if int(line["line"]) > len(path.read_text().splitlines()):
                return f"{line['path']} has fewer than {line['line']} lines"
            return None
        if _is_path(self.site):
            exists = (project.base / self.site).is_file()
            return None if exists else f"{self.site} does not exist"
        if not any(
            _names(self.site, qualname, module)
            for module, qualname in _project_functions(project)
        ):
            return f"no function {self.site} in the project's code"
        return None


class Allowlist:
    """The entries of the setting, and which of them matched so far."""

    def __init__(self, entries: tuple[AllowEntry, ...]) -> None:
        self.entries = entries

    @classmethod
    def from_settings(cls) -> Allowlist:
        """Read `settings.CHECKER_NPLUSONE_ALLOW` (no entries when unset)."""
        from django.conf import settings

        found = getattr(settings, SETTING, ())
        if isinstance(found, str) or not isinstance(found, list | tuple):
            raise ImproperlyConfigured(
                f"{SETTING} is {found!r}: make it a list of strings like"
                ' "Post.author @ blog/views.py:12".'
            )
        return cls(tuple(AllowEntry.parse(text) for text in found))

    def allowing(self, group: QueryGroup, project: ProjectCode) -> AllowEntry | None:
        """Return the entry that accepts the group's N+1, noting it matched."""
        for entry in self.entries:
            if entry.matches(group, project):
                _matched.add(entry)
                return entry
        return None

    def checked(self) -> None:
        """Note that N+1s were looked for with these entries."""
        _checked.add(self.entries)


# Entries that silenced an N+1 in this process, and the lists of entries
# that N+1s were looked for with: an entry is stale only once it had a chance.
_matched: set[AllowEntry] = set()
_checked: set[tuple[AllowEntry, ...]] = set()


def stale_entries() -> list[AllowEntry]:
    """Return the entries that were in use and never matched an N+1 so far."""
    used = {entry for entries in _checked for entry in entries}
    return sorted(used - _matched, key=str)


def missing_entries(
    allowlist: Allowlist, project: ProjectCode
) -> list[tuple[AllowEntry, str]]:
    """Return the entries naming a relation or call site that no longer exists."""
    found = [(entry, entry.missing(project)) for entry in allowlist.entries]
    return [(entry, why) for entry, why in found if why is not None]


def _is_path(site: str) -> bool:
    return "/" in site or site.endswith((".py", ".html", ".txt"))


def _names(site: str, qualname: str, module: str) -> bool:
    return site in (qualname, f"{module}.{qualname}") or qualname.endswith(f".{site}")


def _site_matches(site: str, query: CapturedQuery, project: ProjectCode) -> bool:
    places = [place for place in (query.template, query.frame) if place is not None]
    if _LINE.match(site):
        return any(str(place) == site for place in places)
    if _is_path(site):
        return any(place.path == site for place in places)
    frame = query.frame
    if frame is None:
        return False
    qualname = _enclosing(str(project.base / frame.path), frame.line)
    module = frame.path.removesuffix(".py").replace("/", ".")
    return qualname is not None and _names(site, qualname, module)


@lru_cache(maxsize=256)
def _functions(filename: str) -> tuple[tuple[str, int, int], ...]:
    """Return each function of a source file: qualified name, first and last line."""
    try:
        tree = ast.parse(Path(filename).read_text(), filename)
    except (OSError, SyntaxError, ValueError):
        return ()
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((name, child.lineno, child.end_lineno or child.lineno))
                visit(child, f"{name}.")

    visit(tree, "")
    return tuple(found)


def _enclosing(filename: str, line: int) -> str | None:
    """Return the qualified name of the innermost function holding a line."""
    inside = [
        (first, name)
        for name, first, last in _functions(filename)
        if first <= line <= last
    ]
    return max(inside)[1] if inside else None


def _project_functions(project: ProjectCode) -> list[tuple[str, str]]:
    """Return (module, qualified name) of every function in the project's roots."""
    found: list[tuple[str, str]] = []
    for root in project.roots:
        folder = project.base / root
        for path in sorted(folder.rglob("*.py")) if folder.is_dir() else ():
            module = project.relative(str(path)).removesuffix(".py").replace("/", ".")
            found += [(module, name) for name, _, _ in _functions(str(path))]
    return found
