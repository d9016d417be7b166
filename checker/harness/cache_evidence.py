"""Read cache evidence from the run's own Redis around the shop's reads.

    warm = cache_warm(shop, lambda: shop.get(url), label="The second GET ...")
    assert_within(warm, warm_hit_without_queries())

The hits and misses a verdict rests on are the server's (`INFO` around the
block), the keys read and written are the commands it received (`MONITOR`),
and the lifetime of each key written is its `PTTL`, all read by the trusted
side. The shop's own cache recorder, when a page carries its report, only
lends each operation its method and line. When its counts differ from the
server's, the server's stand and the shop's `disagreements` say so in one
line. The result is a measurement the cache budgets read as they read an
in-process one: its `.cache.to_dict()` holds the operations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

from checker.cache.records import CacheOperation, key_family
from checker.harness.cache_server import RunRedis, WatchedCommand
from checker.harness.evidence import EvidenceMeasurement
from checker.harness.shop import Page, Shop

__all__ = [
    "CACHE_DB",
    "CacheWindow",
    "ServerCache",
    "Watched",
    "cache_warm",
    "cache_written",
    "watched",
]

T = TypeVar("T")

# The shop's REDIS_URL names database 0; the broker's and the results'
# databases hold queues, not cache entries.
CACHE_DB = 0
# django-redis stores `key` as `<KEY_PREFIX>:<version>:<key>`.
_STORED_KEY = re.compile(r"[^:]*:-?\d+:(?P<key>.*)", re.DOTALL)
# Flags of each command, as the server declares them (COMMAND INFO).
_FLAGS: dict[str, frozenset[str]] = {}


@dataclass
class CacheWindow:
    """What the run's Redis counted and received while one block ran."""

    hits: int = 0
    misses: int = 0
    # The keyed commands sent to the cache's database, in order.
    commands: list[WatchedCommand] = field(default_factory=list)


@dataclass
class Watched(Generic[T]):
    """One block's result, its queries from PostgreSQL and its Redis window."""

    result: T
    measurement: EvidenceMeasurement
    window: CacheWindow
    # The shop's own cache reports of the pages the block returned.
    reported: list[dict[str, Any]]


@dataclass
class ServerCache:
    """A cache recording built from the server's evidence, as budgets read it."""

    operations: list[CacheOperation]
    hits: int
    misses: int
    errors: list[dict[str, Any]]
    redis_info: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return the recording in the shape of `CacheRecorder.to_dict()`."""
        families: dict[str, dict[str, int]] = {}
        for operation in self.operations:
            row = families.setdefault(
                operation.family, {"operations": 0, "hits": 0, "misses": 0}
            )
            row["operations"] += 1
            row["hits"] += operation.hits
            row["misses"] += operation.misses
        return {
            "operations": [
                {**asdict(op), "family": op.family} for op in self.operations
            ],
            "hits": self.hits,
            "misses": self.misses,
            "by_family": families,
            "errors": self.errors,
            "redis_info": self.redis_info,
        }


def _server(shop: Shop) -> RunRedis:
    if not isinstance(shop.redis, RunRedis):
        raise TypeError("the shop under test has no Redis of its run")
    return shop.redis


def _reports(result: object) -> list[dict[str, Any]]:
    """Return the shop's cache reports carried by the pages in `result`."""
    if isinstance(result, Page):
        return [result.cache_reported] if result.cache_reported else []
    if isinstance(result, list | tuple):
        return [report for item in result for report in _reports(item)]
    return []


def watched(shop: Shop, read: Callable[[], T], *, label: str) -> Watched[T]:
    """Run `read` (requests or calls on `shop`) with Redis and PostgreSQL watched."""
    redis = _server(shop)
    before = redis.stats()
    with shop.recording(label) as found, redis.commands_watch() as log:
        result = read()
        after = redis.stats()
    window = CacheWindow(
        hits=after.keyspace_hits - before.keyspace_hits,
        misses=after.keyspace_misses - before.keyspace_misses,
        commands=[c for c in log.commands if c.db == CACHE_DB and c.keys],
    )
    measurement = EvidenceMeasurement(
        label,
        [query for made in found for query in made.queries],
        reported=sum(made.reported for made in found),
    )
    return Watched(result, measurement, window, _reports(result))


def _flags(redis: RunRedis, names: Iterable[str]) -> dict[str, frozenset[str]]:
    missing = sorted({name for name in names if name not in _FLAGS})
    if missing:
        # Any: redis-py leaves execute_command unannotated.
        admin: Any = redis.admin()
        info: dict[str, Any] = admin.execute_command("COMMAND", "INFO", *missing)
        for name in missing:
            flags = info.get(name.lower(), {}).get("flags", [])
            _FLAGS[name] = frozenset(
                flag.decode() if isinstance(flag, bytes) else str(flag)
                for flag in flags
            )
    return {name: _FLAGS[name] for name in names}


def _unprefixed(key: str) -> str:
    found = _STORED_KEY.fullmatch(key)
    return found["key"] if found else key


def _lent(
    reported: Sequence[dict[str, Any]], key: str, write: bool
) -> dict[str, Any] | None:
    """Return the shop's own operation on `key`, of the same kind if it has one."""
    same = [op for op in reported if key in op.get("keys", [])]
    kind = [op for op in same if bool(op.get("write")) == write]
    found = kind or same
    return found[0] if found else None


def _recording(
    shop: Shop,
    watch: Watched[Any],
    *,
    credited: set[str],
    credit_own_writes: bool,
) -> ServerCache:
    """Turn a window into operations; hits count only on `credited` keys.

    A read of a credited key takes one of the server's hits while any are
    left; any other read takes one of its misses. So no more hits are
    counted than the server counted, and none on a key nobody wrote.
    """
    redis, window = _server(shop), watch.window
    flags = _flags(redis, {command.name for command in window.commands})
    reported = [op for report in watch.reported for op in report["operations"]]
    hits_left, misses_left = window.hits, window.misses
    operations: list[CacheOperation] = []
    stored: dict[str, CacheOperation] = {}
    for command in window.commands:
        stores = "denyoom" in flags[command.name]
        reads = "readonly" in flags[command.name]
        for raw in command.keys:
            key = _unprefixed(raw)
            own = _lent(reported, key, stores)
            operation = CacheOperation(
                alias="default",
                backend="redis",
                method=str(own["method"]) if own else command.name.lower(),
                keys=[key],
                families=[key_family(key)],
                write=stores,
                call_site=own.get("call_site") if own else None,
            )
            if reads and raw in credited and hits_left:
                operation.hits, hits_left = 1, hits_left - 1
            elif reads and misses_left:
                operation.misses, misses_left = 1, misses_left - 1
            if stores:
                stored[raw] = operation
                if credit_own_writes:
                    credited.add(raw)
            operations.append(operation)
    for raw, operation in stored.items():
        # -1: the key lives for ever; -2: it is gone already (deleted).
        left = int(redis.admin().pttl(raw))
        timeout = None if left == -1 else max(left, 0) / 1000
        for same in operations:
            if same.write and same.keys == operation.keys:
                same.timeout = timeout
    hits = sum(operation.hits for operation in operations)
    _disagreement(shop, watch)
    return ServerCache(
        operations=operations,
        hits=hits,
        misses=window.misses,
        errors=[error for report in watch.reported for error in report["errors"]],
        redis_info={
            "run": {
                "server": str(redis.socket),
                "keyspace_hits": window.hits,
                "keyspace_misses": window.misses,
                "counted_hits": hits,
            }
        },
    )


def _disagreement(shop: Shop, watch: Watched[Any]) -> None:
    """Note in one line when the shop's own report counts differently."""
    if not watch.reported:
        return
    told_hits = sum(int(report["hits"]) for report in watch.reported)
    told_misses = sum(int(report["misses"]) for report in watch.reported)
    window = watch.window
    if (told_hits, told_misses) == (window.hits, window.misses):
        return
    shop.disagreements.append(
        f"{watch.measurement.label}: the shop's own cache recorder reported "
        f"{_counts(told_hits, told_misses)}; Redis counted "
        f"{_counts(window.hits, window.misses)}, and that count stands."
    )


def _counts(hits: int, misses: int) -> str:
    return (
        f"{hits} {'hit' if hits == 1 else 'hits'} and "
        f"{misses} {'miss' if misses == 1 else 'misses'}"
    )


def _stored_keys(shop: Shop, watch: Watched[Any]) -> set[str]:
    window = watch.window
    flags = _flags(_server(shop), {command.name for command in window.commands})
    return {
        key
        for command in window.commands
        if "denyoom" in flags[command.name]
        for key in command.keys
    }


def cache_warm(
    shop: Shop, read: Callable[[], Any], *, label: str
) -> EvidenceMeasurement:
    """Run `read` twice; measure the second run, with its cache from Redis.

    Only hits on keys the first run wrote count: a read of a key nobody
    cached, or one the second run wrote itself, serves nothing once warm.
    """
    cold = watched(shop, read, label=f"{label} (cold)")
    warm = watched(shop, read, label=label)
    warm.measurement.cache = _recording(
        shop, warm, credited=_stored_keys(shop, cold), credit_own_writes=False
    )
    return warm.measurement


def cache_written(
    shop: Shop, read: Callable[[], Any], *, label: str
) -> EvidenceMeasurement:
    """Measure `read` with every key it wrote and that key's lifetime from Redis."""
    watch = watched(shop, read, label=label)
    watch.measurement.cache = _recording(
        shop, watch, credited=set(), credit_own_writes=True
    )
    return watch.measurement
