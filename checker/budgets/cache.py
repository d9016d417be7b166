"""Cache budgets: hits, misses, no queries once warm, no stale reads, expiry.

Each budget checks a subject that carries a cache recording: a
`Measurement` (its `.cache`), a `CacheRecorder`, or their `to_dict()` data,
optionally with a `query_count`. `no_stale_reads` checks a `StaleCheck`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checker.budgets import Budget, Verdict
from checker.invalidation import StaleCheck

__all__ = [
    "CacheHits",
    "CacheMisses",
    "KeysExpire",
    "NoCacheErrors",
    "NoStaleReads",
    "WarmHitWithoutQueries",
    "cache_data",
    "cache_hits_at_least",
    "cache_misses_at_most",
    "keys_expire",
    "no_cache_errors",
    "no_stale_reads",
    "warm_hit_without_queries",
]

_FIX_MISS = (
    "Store the result once and read it back: cache.get_or_set(key, compute, "
    "timeout) for data, cache_page for a whole view, {% cache %} for a fragment."
)


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def label_of(subject: Any) -> str:
    """Return what the message calls the measured code."""
    label = subject.get("label") if isinstance(subject, dict) else None
    label = label or getattr(subject, "label", "")
    return str(label) or "The measured code"


def recording_data(subject: Any, part: str, noun: str) -> dict[str, Any]:
    """Return a subject's `part` recording ("cache", "tasks") as plain data.

    The subject is a measurement, its `to_dict()` data, or the recorder itself.
    """
    if isinstance(subject, dict):
        found = subject.get(part, subject)
        return found if isinstance(found, dict) else recording_data(found, part, noun)
    recorder = getattr(subject, part, subject)
    if recorder is None or not hasattr(recorder, "to_dict"):
        raise TypeError(f"{subject!r} carries no {noun} recording")
    data: dict[str, Any] = recorder.to_dict()
    return data


def cache_data(subject: Any) -> dict[str, Any]:
    """Return the cache recording of a subject as plain data."""
    return recording_data(subject, "cache", "cache")


def query_count(subject: Any) -> int:
    """Return the number of queries a subject says ran."""
    if isinstance(subject, dict):
        if "query_count" in subject:
            return int(subject["query_count"])
        return len(subject.get("queries", []))
    return int(subject.query_count)


def _operations(data: dict[str, Any], family: str | None) -> list[dict[str, Any]]:
    return [
        op
        for op in data["operations"]
        if family is None or family in op.get("families", [op.get("family")])
    ]


def _where(op: dict[str, Any]) -> str:
    keys = ", ".join(f"`{key}`" for key in op["keys"][:3]) or "(no key)"
    site = f" from {op['call_site']}" if op.get("call_site") else ""
    return f"{op['method']}({keys}) ({op['family']}){site}"


@dataclass(repr=False)
class CacheHits(Budget):
    """At least N cache hits, optionally in one key family."""

    at_least: int = 1
    family: str | None = None

    def describe(self) -> str:
        """Return the budget in words."""
        noun = f"{self.family} hit" if self.family else "hit"
        return f"at least {_plural(self.at_least, noun)}"

    def check(self, subject: Any) -> Verdict:
        """Count the hits and name the first miss when there are too few."""
        operations = _operations(cache_data(subject), self.family)
        hits = sum(op["hits"] for op in operations)
        misses = sum(op["misses"] for op in operations)
        met = hits >= self.at_least
        message = (
            f"{label_of(subject)} hit the cache {_plural(hits, 'time')} and missed "
            f"{_plural(misses, 'time')} (budget: {self.describe()})."
        )
        diagnosis: dict[str, Any] = {"hits": hits, "misses": misses}
        if not met:
            missed = [op for op in operations if op["misses"]]
            if missed:
                message += f" First miss: {_where(missed[0])}."
                diagnosis["first_miss"] = missed[0]
            elif not operations:
                message += " No cache was read at all."
            message += f" {_FIX_MISS}"
        return Verdict(
            self.describe(), met, f"{hits} hits", message, diagnosis, self.points
        )


@dataclass(repr=False)
class CacheMisses(Budget):
    """At most N cache misses, optionally in one key family."""

    at_most: int = 0
    family: str | None = None

    def describe(self) -> str:
        """Return the budget in words."""
        return f"at most {_plural(self.at_most, 'miss', 'misses')}"

    def check(self, subject: Any) -> Verdict:
        """Count the misses and name the first one over the budget."""
        operations = _operations(cache_data(subject), self.family)
        misses = sum(op["misses"] for op in operations)
        met = misses <= self.at_most
        message = (
            f"{label_of(subject)} missed the cache {_plural(misses, 'time')} "
            f"(budget: {self.describe()})."
        )
        diagnosis: dict[str, Any] = {"misses": misses}
        if not met:
            first = next(op for op in operations if op["misses"])
            message += f" First miss: {_where(first)}. {_FIX_MISS}"
            diagnosis["first_miss"] = first
        return Verdict(
            self.describe(), met, f"{misses} misses", message, diagnosis, self.points
        )


def _first_origin(subject: Any) -> str | None:
    """Return where the first query run by the project's own code came from."""
    # Middleware queries (the session, the user) come first and explain nothing.
    statements = getattr(subject, "statements", None)
    if statements is not None:
        return next(
            (str(q.origin) for q in statements if q.origin and q.origin.in_project),
            None,
        )
    queries = subject.get("queries", []) if isinstance(subject, dict) else []
    return next(
        (q["origin"] for q in queries if q.get("origin") and not q.get("transaction")),
        None,
    )


@dataclass(repr=False)
class WarmHitWithoutQueries(Budget):
    """Once the cache is warm, a hit serves the request with no query at all."""

    def describe(self) -> str:
        """Return the budget in words."""
        return "0 queries once the cache is warm"

    def check(self, subject: Any) -> Verdict:
        """Require at least one hit and zero queries."""
        data = cache_data(subject)
        count = query_count(subject)
        hits = data["hits"]
        met = hits > 0 and count == 0
        message = (
            f"{label_of(subject)} made {_plural(count, 'query', 'queries')} with "
            f"{_plural(hits, 'cache hit')} (budget: {self.describe()})."
        )
        if hits == 0:
            message += " Nothing was served from the cache. " + _FIX_MISS
        elif count:
            message += (
                " The cache was hit but the database was still queried: cache the "
                "evaluated result (a list, or the rendered page), not a lazy "
                "queryset, and move every query behind the cached block."
            )
        origin = _first_origin(subject) if count else None
        if origin:
            message += f" First query from {origin}."
        return Verdict(
            self.describe(),
            met,
            f"{count} queries, {hits} hits",
            message,
            {"queries": count, "hits": hits},
            self.points,
        )


@dataclass(repr=False)
class NoStaleReads(Budget):
    """After a write, the cached read equals a fresh, uncached read."""

    def describe(self) -> str:
        """Return the budget in words."""
        return "no stale reads after a write"

    def check(self, subject: Any) -> Verdict:
        """Read the verdict of `check_invalidation`."""
        if not isinstance(subject, StaleCheck):
            raise TypeError(
                "no_stale_reads() checks the result of check_invalidation()"
            )
        label = subject.label or "The cached read"
        met = subject.changed and not subject.stale
        if subject.stale:
            message = (
                f"{label} was stale after the write: it differs from a fresh, "
                f"uncached read (budget: {self.describe()}).\n"
                + "\n".join(subject.diff)
                + "\nDelete or update the cached entry where the data is written "
                "(cache.delete(key) in the service, or a post_save/post_delete "
                "signal), or put a version in the key."
            )
        elif not subject.changed:
            message = (
                f"{label} did not change after the write, even uncached "
                f"(budget: {self.describe()}). The scenario proves nothing: write "
                "something the read shows."
            )
        else:
            message = f"{label} matched a fresh read after the write."
        measured = "stale" if subject.stale else "fresh"
        return Verdict(
            self.describe(), met, measured, message, subject.to_dict(), self.points
        )


@dataclass(repr=False)
class KeysExpire(Budget):
    """Every value written to the cache carries a timeout."""

    def describe(self) -> str:
        """Return the budget in words."""
        return "every cache key has a timeout"

    def check(self, subject: Any) -> Verdict:
        """Find writes made with `timeout=None`."""
        writes = [op for op in cache_data(subject)["operations"] if op["write"]]
        forever = [op for op in writes if op["timeout"] is None]
        met = not forever
        message = (
            f"{label_of(subject)} stored {_plural(len(forever), 'cache key')} that "
            f"never expire{'s' if len(forever) == 1 else ''} "
            f"(budget: {self.describe()})."
        )
        if forever:
            message += (
                f" {_where(forever[0])} was written with timeout=None. Pass a "
                "timeout in seconds so that an entry missed by invalidation "
                "ages out."
            )
        return Verdict(
            self.describe(),
            met,
            f"{len(forever)} of {len(writes)} writes never expire",
            message,
            {"never_expire": forever},
            self.points,
        )


@dataclass(repr=False)
class NoCacheErrors(Budget):
    """No cache call failed, including failures django-redis swallows."""

    def describe(self) -> str:
        """Return the budget in words."""
        return "no cache errors"

    def check(self, subject: Any) -> Verdict:
        """List the errors the recording surfaced."""
        errors = cache_data(subject)["errors"]
        met = not errors
        message = (
            f"{label_of(subject)} met {_plural(len(errors), 'cache error')} "
            f"(budget: {self.describe()})."
        )
        if errors:
            first = errors[0]
            hidden = " (swallowed by IGNORE_EXCEPTIONS)" if first["swallowed"] else ""
            site = f" from {first['call_site']}" if first["call_site"] else ""
            message += (
                f" {first['method']} on cache {first['alias']!r} raised "
                f"{first['error']}{hidden}{site}. Check the cache's LOCATION "
                "and that its server runs."
            )
        return Verdict(
            self.describe(),
            met,
            f"{len(errors)} errors",
            message,
            {"errors": errors},
            self.points,
        )


def cache_hits_at_least(count: int = 1, *, family: str | None = None) -> CacheHits:
    """Return a budget of at least `count` hits (in `family`, if given)."""
    return CacheHits(at_least=count, family=family)


def cache_misses_at_most(count: int = 0, *, family: str | None = None) -> CacheMisses:
    """Return a budget of at most `count` misses (in `family`, if given)."""
    return CacheMisses(at_most=count, family=family)


def warm_hit_without_queries() -> WarmHitWithoutQueries:
    """Return a budget of zero queries on a warm cache hit."""
    return WarmHitWithoutQueries()


def no_stale_reads() -> NoStaleReads:
    """Return a budget that a read after a write is never stale."""
    return NoStaleReads()


def keys_expire() -> KeysExpire:
    """Return a budget that every cache write has a timeout."""
    return KeysExpire()


def no_cache_errors() -> NoCacheErrors:
    """Return a budget of no cache errors, swallowed or raised."""
    return NoCacheErrors()
