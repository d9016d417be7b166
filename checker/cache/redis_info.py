"""Cross-check a recording against each Redis server's own keyspace counters."""

from __future__ import annotations

import contextlib
import re
import threading
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
    """INFO sent on a connection of the pool, its reply not read yet.

    The connection stays out of the pool until the reply is read, once: by
    whoever wants the counters, or before the next recording starts.
    """

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
        self._fields: dict[bytes, int] | None = None
        self._error: Exception | None = None
        with _unread_lock:
            _unread.append(self)

    def read(self) -> dict[bytes, int]:
        """Wait for the replies (once) and hand the connection back to its pool."""
        with _reading:
            if self._fields is None and self._error is None:
                with _unread_lock:
                    if self in _unread:
                        _unread.remove(self)
                try:
                    replies = [
                        self.connection.read_response() for _ in range(self.replies)
                    ]
                except Exception as error:
                    self._error = error
                    self._drop()
                else:
                    self.pool.release(self.connection)
                    self._fields = _fields(*replies)
        if self._error is not None:
            raise self._error
        assert self._fields is not None
        return self._fields

    def _drop(self) -> None:
        # A reply half read would be the next user's: close the connection.
        self.connection.disconnect()
        self.pool.release(self.connection)


# INFO replies not read yet, each holding a connection out of its pool; the
# next recording reads them first, so that an unread report leaks nothing.
_unread: list[_Sent] = []
_unread_lock = threading.Lock()
_reading = threading.Lock()


def _read_unread() -> None:
    with _unread_lock:
        waiting = list(_unread)
    for sent in waiting:
        # A server gone since: the report that wants it says so when read.
        with contextlib.suppress(Exception):
            sent.read()


class RedisCounters:
    """Read each Redis server's `INFO stats` keyspace counters around a block.

    One round trip per server at the start and one at the end, none in
    between: the counters are the evidence, the block's own calls are not
    slowed down to read them. The start's INFO is sent when the block starts
    and its reply read when the block's first cache call is made, so that
    round trip overlaps the block's own work: Redis serves commands in the
    order they reach it, and none of the block's cache calls leaves before
    the reply is in. The end's INFO is sent when the block ends, after its
    last call was answered, and its reply (and the start's, if no call came)
    is read only when the report is: the block does not wait for it.
    """

    def __init__(self) -> None:
        self._before: dict[str, Reading] = {}
        self._pending: dict[str, tuple[str, _Sent]] = {}
        # The server each Redis alias named at the start, and the INFO sent to
        # it at the end.
        self._servers: dict[str, str] = {}
        self._after: dict[str, tuple[str, _Sent | None]] = {}

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
        _read_unread()
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
            self._servers[alias] = server

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

    def finish(self) -> None:
        """Send each server's INFO as the block ends; `report()` reads it."""
        sent: dict[str, _Sent | None] = {}
        for alias, server in self._servers.items():
            if server not in sent:
                sent[server] = None
                pool = self._pool(alias) if alias in caches.settings else None
                # An alias that now names another server has nothing to compare.
                if pool is not None and _server(pool) == server:
                    # One round trip for both sections: Redis 6 takes one per INFO.
                    with contextlib.suppress(Exception):
                        sent[server] = _Sent(pool, ("stats", "clients"))
            self._after[alias] = (server, sent[server])

    def report(self, lookups: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
        """Return, per Redis alias, the server's deltas next to the expected ones."""
        self.settle()
        report: dict[str, dict[str, Any]] = {}
        for alias, (server, hits, misses, _) in self._before.items():
            after = self._read_after(alias)
            if after is None:
                continue
            # INFO counts per server, so every alias on that server adds up.
            sharing = [a for a, before in self._before.items() if before[0] == server]
            expected_hits = sum(lookups[a][0] for a in sharing)
            expected_misses = sum(lookups[a][1] for a in sharing)
            report[alias] = {
                "server": server,
                "keyspace_hits": after[0] - hits,
                "keyspace_misses": after[1] - misses,
                "expected_hits": expected_hits,
                "expected_misses": expected_misses,
                "agrees": (after[0] - hits, after[1] - misses)
                == (expected_hits, expected_misses),
                # INFO counts every client's lookups: with other clients
                # reading the same server, disagreement proves nothing.
                "connected_clients": after[2],
            }
        return report

    def _read_after(self, alias: str) -> tuple[int, int, int] | None:
        sent = self._after.get(alias, ("", None))[1]
        if sent is None:
            return None
        try:
            fields = sent.read()
            return (
                fields[b"keyspace_hits"],
                fields[b"keyspace_misses"],
                fields.get(b"connected_clients", 0),
            )
        except Exception:
            return None
