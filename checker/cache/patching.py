"""Wrap the cache backends' methods once, and read each call while something records.

Cache instances are per thread, so the methods of the backend classes
themselves are wrapped, on the first recording, and stay wrapped: while
nothing records, each wrapper calls straight through. A hit or a
miss is decided with a private sentinel passed as the default, so a cached
`None` counts as a hit. Only the outermost call of an operation is reported
(`get_or_set` calls `get` and `add`), but every nested lookup still counts
towards what a Redis server should have seen.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable
from time import perf_counter
from typing import Any, Protocol

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from checker.cache.records import CacheOperation, key_family
from checker.origins import ProjectCode

__all__ = [
    "RawOperation",
    "Sink",
    "alias_of",
    "backend_name",
    "operation_of",
    "start_recording",
    "stop_recording",
]

# The methods recorded on every backend, and which of them read or write.
READS = {"get", "get_many", "has_key", "get_or_set"}
WRITES = {"set", "set_many", "add", "get_or_set", "touch"}
METHODS = sorted(READS | WRITES | {"delete", "delete_many", "incr", "decr", "clear"})
# Methods whose Redis commands look keys up (GET, MGET, EXISTS, and the EXISTS
# inside django-redis's INCR script), so they move `keyspace_hits/misses`.
_KEYSPACE_READS = {"get", "get_many", "has_key", "incr", "decr"}


class _Missing:
    """The private default that tells a miss from a cached `None`."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


class Sink(Protocol):
    """What receives each finished call: a recorder."""

    def receive(
        self,
        alias: str,
        lookups: tuple[int, int],
        operation: RawOperation | None,
        errors: list[tuple[BaseException, bool]],
    ) -> None:
        """Take a call's server lookups and, if outermost, its operation."""


# What a call leaves while it records, the cheapest thing to build per call:
# (alias, backend class, method, keys, hits, misses, timeout, duration,
# call site as `ProjectCode.walk(frame, site=True)` found it, errors).
# `operation_of()` turns it into a CacheOperation when the recording is read.
RawOperation = tuple[
    str,
    type,
    str,
    list[str],
    int,
    int,
    float | None,
    float,
    Any,
    list[tuple[BaseException, bool]],
]


class _Call:
    """A call in progress on this thread, collecting what nested calls saw."""

    __slots__ = ("children", "errors", "hits", "method", "misses")

    def __init__(self, method: str) -> None:
        self.method = method
        self.hits = 0
        self.misses = 0
        self.errors: list[tuple[BaseException, bool]] = []
        self.children: list[_Call] = []


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[_Call] = []


_state = _State()
_lock = threading.Lock()
_active: list[Sink] = []
# Read once per recording rather than once per call: which files are the
# project's. Each backend class's dotted name is read once per process.
_project: ProjectCode | None = None
_backends: dict[type, str] = {}
# The alias a cache instance was found under rides on the instance: looking
# it up in a WeakKeyDictionary on every call cost more than the rest.
_ALIAS = "_checker_alias"


def alias_of(cache: BaseCache) -> str:
    """Return the alias under which this thread's `caches` holds `cache`."""
    known: str | None = vars(cache).get(_ALIAS)
    if known is not None:
        return known
    for alias in caches.settings:
        # Look in the thread's connections without creating a missing one.
        if getattr(caches._connections, alias, None) is cache:  # type: ignore[attr-defined]
            setattr(cache, _ALIAS, str(alias))
            return str(alias)
    return "(unnamed)"


def backend_name(klass: type) -> str:
    """Return a backend class's dotted name."""
    name = _backends.get(klass)
    if name is None:
        name = _backends[klass] = f"{klass.__module__}.{klass.__qualname__}"
    return name


def _timeout(cache: BaseCache, arguments: dict[str, Any]) -> float | None:
    timeout = arguments.get("timeout", DEFAULT_TIMEOUT)
    if timeout is DEFAULT_TIMEOUT:
        return cache.default_timeout
    return timeout  # type: ignore[no-any-return]


def _keys(method: str, arguments: dict[str, Any]) -> list[str]:
    if "key" in arguments:
        return [str(arguments["key"])]
    if method == "set_many":
        return [str(key) for key in arguments.get("data", {})]
    if "keys" in arguments:
        return [str(key) for key in arguments["keys"]]
    return []


class _SwallowLogger:
    """Stands in for django-redis's logger to see exceptions it swallows."""

    def __init__(self, call: _Call, original: Any) -> None:
        self.call = call
        self.original = original

    def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            self.call.errors.append((error.__cause__ or error, True))
        if self.original is not None:
            self.original.exception(message, *args, **kwargs)


def _invoke(
    original: Callable[..., Any],
    cache: BaseCache,
    call: _Call,
    arguments: dict[str, Any],
) -> Any:
    """Call the original method, reading hits and misses as it returns."""
    method = call.method
    if method == "get":
        default = arguments.get("default")
        value = original(cache, **{**arguments, "default": _MISSING})
        if value is _MISSING:
            call.misses += 1
            return default
        call.hits += 1
        return value
    if method == "get_many":
        arguments["keys"] = keys = list(arguments["keys"])
        found = original(cache, **arguments)
        call.hits += len(found)
        call.misses += len(keys) - len(found)
        return found
    if method in ("incr", "decr"):
        try:
            value = original(cache, **arguments)
        except ValueError:
            call.misses += 1
            raise
        call.hits += 1
        return value
    value = original(cache, **arguments)
    if method == "has_key":
        if value:
            call.hits += 1
        else:
            call.misses += 1
    return value


# Installing runs for every recording; reading ~70 signatures each time showed
# up as most of the cache recorder's overhead.
@functools.cache
def _parameter_names(original: Callable[..., Any], method: str) -> list[str]:
    signature = inspect.signature(original)
    if any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()):
        # django-redis forwards `*args, **kwargs`; read them as Django's API.
        signature = inspect.signature(getattr(BaseCache, method))
    return [
        name
        for name, parameter in list(signature.parameters.items())[1:]
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD
    ]


def _wrap(original: Callable[..., Any], method: str) -> Callable[..., Any]:
    names = _parameter_names(original, method)

    @functools.wraps(original)
    def recorded(cache: BaseCache, *args: Any, **kwargs: Any) -> Any:
        if not _active or len(args) > len(names):
            return original(cache, *args, **kwargs)
        if _before_first:
            _run_before_first()
        # Binding by hand: inspect.Signature.bind costs more than the call.
        arguments = dict(zip(names, args, strict=False))
        arguments.update(kwargs)
        stack = _state.stack
        call = _Call(method)
        if stack:
            stack[-1].children.append(call)
        saved = _swallow(cache, call) if vars(cache).get("_ignore_exceptions") else None
        stack.append(call)
        start = perf_counter()
        try:
            return _invoke(original, cache, call, arguments)
        except Exception as error:
            call.errors.append((error, False))
            raise
        finally:
            duration = perf_counter() - start
            stack.pop()
            if saved is not None:
                _unswallow(cache, saved)
            _finish(cache, call, arguments, duration, outermost=not stack)

    return recorded


def _swallow(cache: BaseCache, call: _Call) -> tuple[Any, Any] | None:
    # django-redis returns a default instead of raising when IGNORE_EXCEPTIONS
    # is on, and only logs if asked to; asking it to log to a stand-in logger
    # surfaces the error without changing what the caller gets back.
    if not getattr(cache, "_ignore_exceptions", False):
        return None
    if isinstance(getattr(cache, "logger", None), _SwallowLogger):
        return None
    logs = getattr(cache, "_log_ignored_exceptions", False)
    saved = (logs, getattr(cache, "logger", None))
    cache._log_ignored_exceptions = True  # type: ignore[attr-defined]
    cache.logger = _SwallowLogger(call, saved[1] if logs else None)  # type: ignore[attr-defined]
    return saved


def _unswallow(cache: BaseCache, saved: tuple[Any, Any] | None) -> None:
    if saved is not None:
        cache._log_ignored_exceptions, cache.logger = saved  # type: ignore[attr-defined]


def _finish(
    cache: BaseCache,
    call: _Call,
    arguments: dict[str, Any],
    duration: float,
    *,
    outermost: bool,
) -> None:
    alias = vars(cache).get(_ALIAS) or alias_of(cache)
    method = call.method
    hits, misses = call.hits, call.misses
    lookups = (hits, misses) if method in _KEYSPACE_READS else (0, 0)
    errors = call.errors
    if call.children:
        errors = errors + [e for child in call.children for e in child.errors]
        if method == "get_or_set":
            hits, misses = call.children[0].hits, call.children[0].misses
    if method not in READS:
        hits = misses = 0
    operation: RawOperation | None = None
    if outermost:
        project = _project or ProjectCode.from_settings()
        operation = (
            alias,
            type(cache),
            method,
            _keys(method, arguments),
            hits,
            misses,
            _timeout(cache, arguments) if method in WRITES else None,
            duration,
            project.walk(sys._getframe(2), site=True)[0],
            errors,
        )
    with _lock:
        for sink in _active:
            sink.receive(alias, lookups, operation, errors)


def operation_of(raw: RawOperation, project: ProjectCode) -> CacheOperation:
    """Build the CacheOperation a call left as a raw tuple."""
    alias, klass, method, keys, hits, misses, timeout, duration, site, errors = raw
    return CacheOperation(
        alias=alias,
        backend=backend_name(klass),
        method=method,
        keys=keys,
        families=[key_family(key) for key in keys],
        hits=hits,
        misses=misses,
        # get_or_set writes only when its lookup missed.
        write=method in WRITES and not (method == "get_or_set" and hits),
        timeout=timeout,
        duration=duration,
        call_site=project.site_text(site),
        error=repr(errors[0][0]) if errors else None,
    )


def _backend_classes() -> set[type[BaseCache]]:
    # Import the usual backends so that their classes exist to be wrapped even
    # if no cache of that kind has been built yet in this process.
    import django_redis.cache  # noqa: F401
    from django.core.cache.backends import dummy, locmem, redis  # noqa: F401

    found: set[type[BaseCache]] = set()
    pending: list[type[BaseCache]] = [BaseCache]
    while pending:
        klass = pending.pop()
        found.add(klass)
        pending += klass.__subclasses__()
    return found


# The wrapper installed on each (class, method). Installed once, a wrapper
# stays: changing a class invalidates CPython's attribute caches, and the code
# that runs next (measured or not) pays for it. Each recording still looks for
# backend classes defined since, and wraps their methods.
_wrappers: dict[tuple[type, str], Callable[..., Any]] = {}


# Which class defines each recorded method, per set of backend classes:
# walking every class's MRO for every method was most of a block's start.
_owners: dict[frozenset[type], list[tuple[type, str]]] = {}


def _owners_of(classes: frozenset[type]) -> list[tuple[type, str]]:
    found = _owners.get(classes)
    if found is None:
        pairs = {
            (owner, method)
            for klass in classes
            for method in METHODS
            if (owner := next((c for c in klass.__mro__ if method in vars(c)), None))
        }
        found = _owners[classes] = list(pairs)
    return found


def _install() -> None:
    for owner, method in _owners_of(frozenset(_backend_classes())):
        if (owner, method) in _wrappers:
            # Ours, or something installed over ours later that calls it.
            continue
        original = vars(owner).get(method)
        if original is None:
            # Deleted since the owners were found: calls reach the base
            # class's method, which is among the owners too.
            continue
        wrapper = _wrappers[(owner, method)] = _wrap(original, method)
        setattr(owner, method, wrapper)


def start_recording(
    sink: Sink, *, before_first: Callable[[], None] | None = None
) -> None:
    """Send every cache call to `sink` until `stop_recording(sink)`.

    `before_first` runs once, before the first cache call made while
    recording is sent on, on whichever thread makes it.
    """
    global _project
    with _lock:
        _install()
        _project = ProjectCode.from_settings()
        _active.append(sink)
        if before_first is not None:
            _before_first.append(before_first)


def stop_recording(sink: Sink) -> None:
    """Stop sending calls to `sink`; the wrappers then call straight through."""
    with _lock:
        _active.remove(sink)
        if not _active:
            _before_first.clear()


# What runs before the next recorded call goes out: a cross-check's pending
# INFO replies, read then, so that no call of the block reaches Redis first.
_before_first: list[Callable[[], None]] = []


def _run_before_first() -> None:
    with _lock:
        waiting = list(_before_first)
        _before_first.clear()
    for run in waiting:
        run()
