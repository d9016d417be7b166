"""Relay a shop's PostgreSQL connections and record every statement they run.

The trusted side listens on a Unix socket that the sandboxed shop takes for
its database server. Each statement is read off the wire, so a submission
cannot hide a query from the count by patching anything in its own process.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeAlias
from urllib.parse import parse_qs, unquote, urlsplit

from checker.harness.pgwire import (
    CANCEL_REQUEST,
    GSSENC_REQUEST,
    SSL_REQUEST,
    Frames,
    Session,
    fatal,
    read_startup,
    startup_code,
)

__all__ = ["PgProxy", "Statement", "Upstream", "upstream_from_url"]

# A Unix socket path, or a TCP (host, port).
Upstream: TypeAlias = Path | tuple[str, int]

# A client that connects but never says who it is must not hold a thread.
_STARTUP_TIMEOUT = 30.0
_CHUNK = 65536


@dataclass(frozen=True)
class Statement:
    """One statement a client sent, as it passed through the proxy."""

    seq: int
    connection: int
    sql: str
    params: tuple[str | None, ...]
    at: float


class _Refused(Exception):
    """A startup packet the proxy will not forward."""


class PgProxy:
    """Forward PostgreSQL connections from `listen` to `upstream`, logging queries.

    Only `user` may connect, only to one of `databases`, and never for
    replication; any other startup is answered with a FATAL error and never
    reaches the server.
    """

    def __init__(
        self,
        listen: Path,
        upstream: Upstream,
        *,
        user: str,
        databases: Collection[str],
    ) -> None:
        self.listen = listen
        self.upstream = upstream
        self.user = user
        self.databases = frozenset(databases)
        self._lock = threading.Lock()
        self._log: list[Statement] = []
        self._refusals: list[str] = []
        self._sessions = 0
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._closed = False
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()

    def __enter__(self) -> PgProxy:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Listen on `listen` and accept connections in a background thread."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.listen))
        # The shop runs under another uid and must be able to connect.
        self.listen.chmod(0o777)
        listener.listen(64)
        self._listener = listener
        self._spawn(self._accept_loop)

    def close(self) -> None:
        """Stop accepting, end every relayed connection and remove the socket."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sockets = list(self._sockets)
        self._wake_w.send(b"x")
        for sock in sockets:
            # Shutdown wakes the thread blocked in recv() on this socket.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        # A connection being set up may still start its second thread.
        while threads := self._live_threads():
            for thread in threads:
                thread.join()
        if self._listener is not None:
            self._listener.close()
            self.listen.unlink(missing_ok=True)
        self._wake_r.close()
        self._wake_w.close()

    def mark(self) -> int:
        """Return the seq the next statement will get."""
        with self._lock:
            return len(self._log)

    def statements(self, since: int = 0) -> list[Statement]:
        """Return the statements recorded from seq `since` on."""
        with self._lock:
            return self._log[since:]

    @property
    def refusals(self) -> list[str]:
        """Return why each refused connection was refused, in order."""
        with self._lock:
            return list(self._refusals)

    def _live_threads(self) -> list[threading.Thread]:
        with self._lock:
            return [t for t in self._threads if t is not threading.current_thread()]

    def _spawn(self, target: Callable[..., None], *args: object) -> threading.Thread:
        """Run `target` in a daemon thread that close() will wait for."""
        thread = threading.Thread(
            target=self._run, args=(target, *args), name="pgproxy", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def _run(self, target: Callable[..., None], *args: object) -> None:
        try:
            target(*args)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _accept_loop(self) -> None:
        assert self._listener is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_r in ready:
                    return
                client, _ = self._listener.accept()
                if not self._track(client):
                    client.close()
                    return
                self._spawn(self._serve, client)

    def _track(self, sock: socket.socket) -> bool:
        """Remember `sock` so close() can end it; False once the proxy closed."""
        with self._lock:
            if self._closed:
                return False
            self._sockets.add(sock)
            return True

    def _serve(self, client: socket.socket) -> None:
        """Check the client's startup, then relay it to a server connection."""
        server: socket.socket | None = None
        replies: threading.Thread | None = None
        try:
            client.settimeout(_STARTUP_TIMEOUT)
            packet = self._startup(client)
            if packet is None:
                return
            server = self._connect()
            if not self._track(server):
                return
            server.sendall(packet)
            if startup_code(packet) == CANCEL_REQUEST:
                return
            client.settimeout(None)
            with self._lock:
                number = self._sessions
                self._sessions += 1
            replies = self._spawn(self._copy, server, client)
            self._relay_client(client, server, number)
        except (OSError, ValueError, IndexError, struct.error):
            # A broken connection or a malformed message ends this connection
            # only, and a message that cannot be read is never forwarded.
            pass
        finally:
            sockets = [sock for sock in (client, server) if sock is not None]
            for sock in sockets:
                _shutdown(sock)
            # Close only once the other thread is done with the sockets, so
            # it never reads from a descriptor number reused meanwhile.
            if replies is not None:
                replies.join()
            for sock in sockets:
                sock.close()
                with self._lock:
                    self._sockets.discard(sock)

    def _startup(self, client: socket.socket) -> bytes | None:
        """Read the startup packet to forward; None when there is none to send."""
        while True:
            packet = read_startup(client)
            if packet is None:
                return None
            code = startup_code(packet)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                # No encryption between the proxy and a local client.
                client.sendall(b"N")
                continue
            if code == CANCEL_REQUEST:
                return packet
            try:
                self._check(packet)
            except _Refused as refusal:
                with self._lock:
                    self._refusals.append(str(refusal))
                message = (
                    f'this run may connect only as "{self.user}" to its own databases'
                )
                client.sendall(fatal("28000", message))
                return None
            return packet

    def _check(self, packet: bytes) -> None:
        """Raise _Refused unless `packet` starts a session this run may open."""
        code = startup_code(packet)
        if code >> 16 != 3:
            raise _Refused(f"protocol {code >> 16}.{code & 0xFFFF} is not 3.x")
        fields = packet[8:].split(b"\0")
        pairs = dict(zip(fields[0::2], fields[1::2], strict=False))
        params = {
            k.decode(errors="replace"): v.decode(errors="replace")
            for k, v in pairs.items()
            if k
        }
        user = params.get("user", "")
        database = params.get("database") or user
        if user != self.user:
            raise _Refused(f'user "{user}" is not "{self.user}"')
        if database not in self.databases:
            raise _Refused(f'database "{database}" is not one of this run\'s')
        if "replication" in params:
            raise _Refused(f"replication ({params['replication']}) is not allowed")

    def _connect(self) -> socket.socket:
        """Open a connection to the real server."""
        if isinstance(self.upstream, Path):
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.connect(str(self.upstream))
            except OSError:
                server.close()
                raise
            return server
        server = socket.create_connection(self.upstream, timeout=_STARTUP_TIMEOUT)
        server.settimeout(None)
        # Small request/reply messages must not wait for Nagle's algorithm.
        server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return server

    def _copy(self, source: socket.socket, target: socket.socket) -> None:
        """Copy `source` to `target` until either end closes."""
        try:
            while data := source.recv(_CHUNK):
                target.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(source)
            _shutdown(target)

    def _relay_client(
        self, client: socket.socket, server: socket.socket, number: int
    ) -> None:
        """Forward the client's messages, recording each statement first."""
        frames = Frames()
        session = Session()
        while data := client.recv(_CHUNK):
            # The last byte of a message is forwarded only after the message
            # is parsed, so a statement is logged before the server sees it.
            for kind, body in frames.feed(data):
                sql_params = session.handle(kind, body)
                if sql_params is not None:
                    self._record(number, *sql_params)
            server.sendall(data)

    def _record(self, number: int, sql: str, params: tuple[str | None, ...]) -> None:
        at = time.monotonic()
        with self._lock:
            self._log.append(Statement(len(self._log), number, sql, params, at))


def _shutdown(sock: socket.socket) -> None:
    """End both directions of `sock`, waking any thread blocked on it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def upstream_from_url(url: str) -> Upstream:
    """Return the server address of a libpq or Django database URL."""
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    hostport = parts.netloc.rpartition("@")[2]
    if hostport[:3].lower() == "%2f":
        # A percent-encoded socket directory in the host part; keep its case.
        quoted, _, number = hostport.partition(":")
        host, port = unquote(quoted), int(number) if number else None
    else:
        host, port = parts.hostname or "", parts.port
    host = query.get("host", host)
    port = int(query.get("port", port or 5432))
    if not host:
        raise ValueError(f"{url} names no host or socket directory")
    if host.startswith("/"):
        return Path(host) / f".s.PGSQL.{port}"
    return (host, port)
