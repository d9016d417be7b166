"""What the cache recorder keeps: each operation, each error, each key's family."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CacheError", "CacheOperation", "key_family"]

_FAMILIES = (
    ("views.decorators.cache.cache_page.", "page"),
    ("views.decorators.cache.cache_header.", "page"),
    ("template.cache.", "fragment"),
    ("django.contrib.sessions.cache", "session"),
)


def key_family(key: object) -> str:
    """Return the family of a cache key: page, fragment, session or low-level."""
    text = str(key)
    for prefix, family in _FAMILIES:
        if text.startswith(prefix):
            return family
    return "low-level"


@dataclass
class CacheError:
    """An exception raised by a cache call, swallowed by the backend or not."""

    alias: str
    method: str
    error: str
    swallowed: bool
    call_site: str | None


@dataclass
class CacheOperation:
    """One cache call as the caller made it (nested calls are folded in)."""

    alias: str
    backend: str
    method: str
    keys: list[str]
    families: list[str]
    hits: int = 0
    misses: int = 0
    write: bool = False
    # Seconds the written value lives; None on a write means it never expires.
    timeout: float | None = None
    duration: float = 0.0
    call_site: str | None = None
    error: str | None = None

    @property
    def family(self) -> str:
        """Return the family of the first key (low-level when keyless)."""
        return self.families[0] if self.families else "low-level"
