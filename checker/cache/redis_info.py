"""Cross-check a recording against each Redis server's own keyspace counters."""

from __future__ import annotations

import re
import weakref
from typing import Any

from django.core.cache import caches
from redis import Redis

__all__ = ["RedisCounters"]

# INFO's reply is a few dozen "name:value" lines; three of them are wanted,
# and reading them from the raw bytes costs less than redis-py parsing all.
_FIELD = re.compile(rb"^(keyspace_hits|keyspace_misses|connected_clients):(\d+)", re.M)
# A client per connection pool that hands INFO back unparsed; it shares the
# pool, so it opens no connection of its own.
_raw_clients: weakref.WeakKeyDictionary[Any, Redis] = weakref.WeakKeyDictionary()


def _raw_client(client: Redis) -> Redis:
    pool = client.connection_pool
    raw = _raw_clients.get(pool)
    if raw is None:
        raw = _raw_clients[pool] = Redis(connection_pool=pool)
        raw.set_response_callback("INFO", lambda response, **options: response)
    return raw


def _fields(*replies: bytes) -> dict[bytes, int]:
    return {
        name: int(value) for reply in replies for name, value in _FIELD.findall(reply)
    }


class RedisCounters:
    """Read each Redis server's `INFO stats` keyspace counters around a block.

    One round trip per server at the start and one at the end, none in
    between: the counters are the evidence, the block's own calls are not
    slowed down to read them.
    """

    def __init__(self) -> None:
        self._before: dict[str, tuple[str, int, int, int]] = {}

    @staticmethod
    def _read(alias: str, *, clients: bool) -> tuple[str, int, int, int] | None:
        cache = caches[alias]
        if not type(cache).__module__.startswith("django_redis"):
            return None
        try:
            client = cache.client.get_client(write=True)  # type: ignore[attr-defined]
            raw = _raw_client(client)
            if clients:
                # One round trip for both sections: Redis 6 takes one per INFO.
                pipeline = raw.pipeline(transaction=False)
                pipeline.info("stats")
                pipeline.info("clients")
                fields = _fields(*pipeline.execute())
            else:
                fields = _fields(raw.info("stats"))  # type: ignore[arg-type]
            counts = (
                fields[b"keyspace_hits"],
                fields[b"keyspace_misses"],
                fields.get(b"connected_clients", 0),
            )
        except Exception:
            # A server that cannot be reached has no counters; its errors are
            # recorded on the operations themselves.
            return None
        kwargs = client.connection_pool.connection_kwargs
        server = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return str(server), *counts

    def start(self) -> None:
        """Read each Redis alias's counters before the block."""
        for alias in caches.settings:
            reading = self._read(alias, clients=False)
            if reading is not None:
                self._before[alias] = reading

    def stop(self, lookups: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
        """Return, per Redis alias, the server's deltas next to the expected ones."""
        report: dict[str, dict[str, Any]] = {}
        readings: dict[str, tuple[str, int, int, int] | None] = {}
        for alias, (server, hits, misses, _) in self._before.items():
            # Aliases on one server share its counters: read each server once.
            if server not in readings:
                readings[server] = (
                    self._read(alias, clients=True)
                    if alias in caches.settings
                    else None
                )
            after = readings[server]
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
