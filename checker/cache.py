"""Record every cache operation on every cache backend, with hits and misses.

Cache instances are per thread, so the recorder wraps the methods of the
backend classes themselves while it records, and restores them afterwards.
A hit or a miss is decided with a private sentinel passed as the default, so
a cached `None` counts as a hit. On Redis the totals are cross-checked against
the server's own `INFO stats` counters.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from checker.services.layout import project_root

__all__ = ["CacheError", "CacheOperation", "CacheRecorder", "call_site", "key_family"]

# Methods recorded on every backend; the values say how each one reads.
READS = {"get", "get_many", "has_key", "get_or_set"}
WRITES = {"set", "set_many", "add", "get_or_set", "touch"}
METHODS = sorted(READS | WRITES | {"delete", "delete_many", "incr", "decr", "clear"})
# Methods whose Redis commands look keys up (GET, MGET, EXISTS, and the EXISTS
# inside django-redis's INCR script), so they move `keyspace_hits/misses`.
_KEYSPACE_READS = {"get", "get_many", "has_key", "incr", "decr"}

_FAMILIES = (
    ("views.decorators.cache.cache_page.", "page"),
    ("views.decorators.cache.cache_header.", "page"),
    ("template.cache.", "fragment"),
    ("django.contrib.sessions.cache", "session"),
)
_PROJECT_DIRS = ("shop_app", "tests/checker_testapp")


class _Missing:
    """The private default that tells a miss from a cached `None`."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def key_family(key: object) -> str:
    """Return the family of a cache key: page, fragment, session or low-level."""
    text = str(key)
    for prefix, family in _FAMILIES:
        if text.startswith(prefix):
            return family
    return "low-level"


def _project_path(filename: str) -> str | None:
    if filename.startswith("<"):
        return None
    try:
        relative = Path(filename).resolve().relative_to(project_root()).as_posix()
    except ValueError:
        return None
    if relative.startswith(tuple(f"{folder}/" for folder in _PROJECT_DIRS)):
        return relative
    return None


@functools.lru_cache(maxsize=4096)
def _cached_project_path(filename: str) -> str | None:
    return _project_path(filename)


def _template_site(frame: FrameType) -> str | None:
    # A `{% cache %}` tag runs inside Django's template code; its node knows
    # the template file and line, which is where the learner should look.
    node = frame.f_locals.get("self")
    origin = getattr(node, "origin", None)
    token = getattr(node, "token", None)
    name = getattr(origin, "name", None)
    if not isinstance(name, str) or token is None:
        return None
    path = _cached_project_path(name)
    return f"{path}:{token.lineno}" if path else None


def call_site(frame: FrameType | None = None) -> str | None:
    """Return `file:line` of the first frame in project code, or None."""
    frame = frame or sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        path = _cached_project_path(filename)
        if path:
            return f"{path}:{frame.f_lineno}"
        if "django/template" in filename:
            site = _template_site(frame)
            if site:
                return site
        frame = frame.f_back
    return None


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


@dataclass
class _Call:
    """A call in progress on this thread, collecting what nested calls saw."""

    method: str
    hits: int = 0
    misses: int = 0
    errors: list[tuple[BaseException, bool]] = field(default_factory=list)
    children: list[_Call] = field(default_factory=list)


_state = threading.local()
_lock = threading.Lock()
_active: list[CacheRecorder] = []
_originals: dict[tuple[type, str], Any] = {}
_aliases: weakref.WeakKeyDictionary[BaseCache, str] = weakref.WeakKeyDictionary()


def _stack() -> list[_Call]:
    if not hasattr(_state, "stack"):
        _state.stack = []
    stack: list[_Call] = _state.stack
    return stack


def alias_of(cache: BaseCache) -> str:
    """Return the alias under which this thread's `caches` holds `cache`."""
    known = _aliases.get(cache)
    if known is not None:
        return known
    for alias in caches.settings:
        # Look in the thread's connections without creating a missing one.
        if getattr(caches._connections, alias, None) is cache:  # type: ignore[attr-defined]
            _aliases[cache] = str(alias)
            return str(alias)
    return "(unnamed)"


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
        # Binding by hand: inspect.Signature.bind costs more than the call.
        arguments = dict(zip(names, args, strict=False))
        arguments.update(kwargs)
        stack = _stack()
        call = _Call(method)
        if stack:
            stack[-1].children.append(call)
        saved = _swallow(cache, call)
        stack.append(call)
        start = time.perf_counter()
        try:
            return _invoke(original, cache, call, arguments)
        except Exception as error:
            call.errors.append((error, False))
            raise
        finally:
            duration = time.perf_counter() - start
            stack.pop()
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
    alias = alias_of(cache)
    lookups = (call.hits, call.misses) if call.method in _KEYSPACE_READS else (0, 0)
    errors = list(call.errors)
    for child in call.children:
        errors += child.errors
    hits, misses = call.hits, call.misses
    if call.method == "get_or_set" and call.children:
        hits, misses = call.children[0].hits, call.children[0].misses
    elif call.method not in READS:
        hits = misses = 0
    keys = _keys(call.method, arguments)
    site = call_site(sys._getframe(2)) if outermost else None
    operation = CacheOperation(
        alias=alias,
        backend=f"{type(cache).__module__}.{type(cache).__qualname__}",
        method=call.method,
        keys=keys,
        families=[key_family(key) for key in keys],
        hits=hits,
        misses=misses,
        # get_or_set writes only when its lookup missed.
        write=call.method in WRITES and not (call.method == "get_or_set" and hits),
        timeout=_timeout(cache, arguments) if call.method in WRITES else None,
        duration=duration,
        call_site=site,
        error=repr(errors[0][0]) if errors else None,
    )
    with _lock:
        for recorder in _active:
            counts = recorder._lookups[alias]
            counts[0] += lookups[0]
            counts[1] += lookups[1]
            if outermost:
                recorder._add(operation, errors)


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


def _install() -> None:
    for klass in _backend_classes():
        for method in METHODS:
            owner = next((c for c in klass.__mro__ if method in vars(c)), None)
            if owner is None or (owner, method) in _originals:
                continue
            original = vars(owner)[method]
            _originals[(owner, method)] = original
            setattr(owner, method, _wrap(original, method))


def _uninstall() -> None:
    for (owner, method), original in _originals.items():
        setattr(owner, method, original)
    _originals.clear()


class _RedisCounters:
    """Read each Redis server's `INFO stats` keyspace counters around a block."""

    def __init__(self) -> None:
        self._before: dict[str, tuple[str, int, int, int]] = {}

    @staticmethod
    def _read(alias: str) -> tuple[str, int, int, int] | None:
        cache = caches[alias]
        if not type(cache).__module__.startswith("django_redis"):
            return None
        try:
            client = cache.client.get_client(write=True)  # type: ignore[attr-defined]
            stats = client.info("stats")
            clients = client.info("clients")["connected_clients"]
        except Exception:
            # A server that cannot be reached has no counters; its errors are
            # recorded on the operations themselves.
            return None
        kwargs = client.connection_pool.connection_kwargs
        server = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return str(server), stats["keyspace_hits"], stats["keyspace_misses"], clients

    def start(self) -> None:
        for alias in caches.settings:
            reading = self._read(alias)
            if reading is not None:
                self._before[alias] = reading

    def stop(self, lookups: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
        """Return, per Redis alias, the server's deltas next to the expected ones."""
        report: dict[str, dict[str, Any]] = {}
        for alias, (server, hits, misses, _) in self._before.items():
            after = self._read(alias) if alias in caches.settings else None
            if after is None or after[0] != server:
                continue
            # INFO counts per server, so every alias on that server adds up.
            sharing = [a for a, before in self._before.items() if before[0] == server]
            expected_hits = sum(lookups[a][0] for a in sharing)
            expected_misses = sum(lookups[a][1] for a in sharing)
            report[alias] = {
                "server": server,
                "keyspace_hits": after[1] - hits,
                "keyspace_misses": after[2] - misses,
                "expected_hits": expected_hits,
                "expected_misses": expected_misses,
                "agrees": (after[1] - hits, after[2] - misses)
                == (expected_hits, expected_misses),
                # INFO counts every client's lookups: with other clients
                # reading the same server, disagreement proves nothing.
                "connected_clients": after[3],
            }
        return report


class CacheRecorder:
    """Record the cache operations made while the block runs, on every thread."""

    def __init__(self, *, cross_check: bool = True) -> None:
        self.operations: list[CacheOperation] = []
        self.errors: list[CacheError] = []
        self.redis_info: dict[str, dict[str, Any]] = {}
        self._lookups: dict[str, list[int]] = _LookupCounts()
        self._counters = _RedisCounters() if cross_check else None

    @property
    def hits(self) -> int:
        return sum(operation.hits for operation in self.operations)

    @property
    def misses(self) -> int:
        return sum(operation.misses for operation in self.operations)

    def __enter__(self) -> CacheRecorder:
        if self._counters is not None:
            self._counters.start()
        with _lock:
            if not _active:
                _install()
            _active.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with _lock:
            _active.remove(self)
            if not _active:
                _uninstall()
        if self._counters is not None:
            self.redis_info = self._counters.stop(self._lookups)

    def _add(
        self, operation: CacheOperation, errors: list[tuple[BaseException, bool]]
    ) -> None:
        self.operations.append(operation)
        for error, swallowed in errors:
            self.errors.append(
                CacheError(
                    alias=operation.alias,
                    method=operation.method,
                    error=repr(error),
                    swallowed=swallowed,
                    call_site=operation.call_site,
                )
            )

    def by_family(self) -> dict[str, dict[str, int]]:
        """Return operations, hits and misses per key family."""
        totals: dict[str, dict[str, int]] = {}
        for operation in self.operations:
            row = totals.setdefault(
                operation.family, {"operations": 0, "hits": 0, "misses": 0}
            )
            row["operations"] += 1
            row["hits"] += operation.hits
            row["misses"] += operation.misses
        return totals

    def writes(self) -> Iterator[CacheOperation]:
        """Yield the operations that stored a value or changed its expiry."""
        return (op for op in self.operations if op.write)

    def to_dict(self) -> dict[str, Any]:
        """Return the recording as plain JSON data."""
        return {
            "operations": [
                {**asdict(op), "family": op.family} for op in self.operations
            ],
            "hits": self.hits,
            "misses": self.misses,
            "by_family": self.by_family(),
            "errors": [asdict(error) for error in self.errors],
            "redis_info": self.redis_info,
        }


class _LookupCounts(dict[str, list[int]]):
    """Keyspace lookups per alias, as the Redis server should have counted."""

    def __missing__(self, alias: str) -> list[int]:
        self[alias] = counts = [0, 0]
        return counts
