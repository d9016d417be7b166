"""Moved to `checker.history.release`; this path keeps older imports working."""

from checker.history.release import (
    build_edition as build_edition,
)
from checker.history.release import (
    release as release,
)
from checker.history.release import (
    strip_tree as strip_tree,
)
