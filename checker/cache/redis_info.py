"""Cross-check a recording against each Redis server's own keyspace counters."""

from __future__ import annotations

from typing import Any

from django.core.cache import caches

__all__ = ["RedisCounters"]


class RedisCounters:
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
            # One round trip for both sections: Redis 6 takes one per INFO.
            pipeline = client.pipeline(transaction=False)
            pipeline.info("stats")
            pipeline.info("clients")
            stats, clients_section = pipeline.execute()
            clients = clients_section["connected_clients"]
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
