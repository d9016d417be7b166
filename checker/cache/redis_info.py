"""Cross-check a recording against each Redis server's own keyspace counters."""

from __future__ import annotations

import re
from typing import Any

from django.core.cache import caches

__all__ = ["RedisCounters"]

# INFO's reply is a few dozen "name:value" lines; three of them are wanted,
# and reading them from the raw bytes costs less than redis-py parsing all.
_FIELD = re.compile(rb"^(keyspace_hits|keyspace_misses|connected_clients):(\d+)", re.M)

# A reading: (server, keyspace hits, keyspace misses, connected clients).
Reading = tuple[str, int, int, int]


def _fields(*replies: bytes) -> dict[bytes, int]:
    return {
        name: int(value) for reply in replies for name, value in _FIELD.findall(reply)
    }


def _server(pool: Any) -> str:
    kwargs = pool.connection_kwargs
    return str(kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}")


class _Sent:
    """INFO sent on a connection of the pool, its reply not read yet."""

    def __init__(self, pool: Any, sections: tuple[str, ...]) -> None:
        self.pool = pool
        self.connection = pool.get_connection()
        try:
            self.connection.send_packed_command(
                self.connection.pack_commands([("INFO", name) for name in sections])
            )
        except BaseException:
            self._drop()
            raise
        self.replies = len(sections)

    def read(self) -> dict[bytes, int]:
        """Wait for the replies and hand the connection back to its pool."""
        try:
            replies = [self.connection.read_response() for _ in range(self.replies)]
        except BaseException:
            self._drop()
            raise
        self.pool.release(self.connection)
        return _fields(*replies)

    def _drop(self) -> None:
        # A reply half read would be the next user's: close the connection.
        self.connection.disconnect()
        self.pool.release(self.connection)


class RedisCounters:
    """Read each Redis server's `INFO stats` keyspace counters around a block.

    One round trip per server at the start and one at the end, none in
    between: the counters are the evidence, the block's own calls are not
    slowed down to read them. The start's INFO is sent when the block starts
    and its reply read when the block's first cache call is made (or when it
    ends), so that round trip overlaps the block's own work: Redis serves
    commands in the order they reach it, and none of the block's cache calls
    leaves before the reply is in.
    """

    def __init__(self) -> None:
        self._before: dict[str, Reading] = {}
        self._pending: dict[str, tuple[str, _Sent]] = {}

    @staticmethod
    def _pool(alias: str) -> Any:
        cache = caches[alias]
        if not type(cache).__module__.startswith("django_redis"):
            return None
        try:
            client = cache.client.get_client(write=True)  # type: ignore[attr-defined]
        except Exception:
            return None
        return client.connection_pool

    def start(self) -> None:
        """Send each Redis server's INFO; `settle()` reads the replies."""
        sent: dict[str, _Sent] = {}
        for alias in caches.settings:
            pool = self._pool(alias)
            if pool is None:
                continue
            server = _server(pool)
            try:
                if server not in sent:
                    sent[server] = _Sent(pool, ("stats",))
            except Exception:
                # A server that cannot be reached has no counters; its errors
                # are recorded on the operations themselves.
                continue
            self._pending[alias] = (server, sent[server])

    def settle(self) -> None:
        """Read the replies of the INFO `start()` sent, once."""
        pending, self._pending = self._pending, {}
        read: dict[int, dict[bytes, int] | None] = {}
        for alias, (server, sent) in pending.items():
            if id(sent) not in read:
                try:
                    read[id(sent)] = sent.read()
                except Exception:
                    read[id(sent)] = None
            fields = read[id(sent)]
            if fields is not None:
                self._before[alias] = (
                    server,
                    fields[b"keyspace_hits"],
                    fields[b"keyspace_misses"],
                    0,
                )

    def _read_after(self, alias: str) -> Reading | None:
        pool = self._pool(alias)
        if pool is None:
            return None
        try:
            # One round trip for both sections: Redis 6 takes one per INFO.
            fields = _Sent(pool, ("stats", "clients")).read()
            counts = (
                fields[b"keyspace_hits"],
                fields[b"keyspace_misses"],
                fields.get(b"connected_clients", 0),
            )
        except Exception:
            return None
        return _server(pool), *counts

    def stop(self, lookups: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
        """Return, per Redis alias, the server's deltas next to the expected ones."""
        self.settle()
        report: dict[str, dict[str, Any]] = {}
        readings: dict[str, Reading | None] = {}
        for alias, (server, hits, misses, _) in self._before.items():
            # Aliases on one server share its counters: read each server once.
            if server not in readings:
                readings[server] = (
                    self._read_after(alias) if alias in caches.settings else None
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
