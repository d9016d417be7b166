"""The course's git history: lesson tags, safe lesson switching, a student edition."""

from __future__ import annotations

from checker.history.tags import register

__all__ = ["register"]
