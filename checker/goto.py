"""Moved to `checker.history.goto`; this path keeps older imports working."""

from checker.history.goto import (
    goto as goto,
)
from checker.history.goto import (
    resolve_tag as resolve_tag,
)
