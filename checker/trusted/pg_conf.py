"""Read chosen settings from a learner's postgresql.conf, as text, never run."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["ConfError", "conf_read"]

# `name = value` or `name value`, the value bare or single-quoted (with ''
# for a quote inside), then an optional comment: postgresql.conf's syntax.
_LINE = re.compile(
    r"^\s*(?P<name>[A-Za-z_][\w.]*)\s*=?\s*"
    r"(?P<value>'(?:[^']|'')*'|[^\s#']+)\s*(?:#.*)?$"
)
_BLANK = re.compile(r"^\s*(?:#.*)?$")


class ConfError(Exception):
    """The learner's file cannot be read as postgresql.conf, with where and why."""


def conf_read(
    path: Path, names: Iterable[str], *, shown: str
) -> dict[str, tuple[str, int]]:
    """Return {name: (value, line)} for those of `names` that `path` sets.

    `shown` names the file in errors, as the learner knows it.

    A name set twice keeps its last value, as PostgreSQL does. Other
    settings are read past, and a line that is not a setting is an error.
    """
    wanted = set(names)
    if not path.is_file():
        raise ConfError(f"{shown} is missing")
    found: dict[str, tuple[str, int]] = {}
    text = path.read_text(errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        if _BLANK.match(line):
            continue
        setting = _LINE.match(line)
        if setting is None:
            raise ConfError(f"{shown}:{number} is not `name = value`: {line.strip()!r}")
        value = setting["value"]
        if value.startswith("'"):
            value = value[1:-1].replace("''", "'")
        if setting["name"] in wanted:
            found[setting["name"]] = (value, number)
    return found
