"""Moved to `checker.course.watch`; this path keeps older imports working."""

from checker.course.watch import (
    run_watch as run_watch,
)
