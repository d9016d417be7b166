"""A relay between Nginx and Gunicorn that notes every request reaching the shop.

Nginx in a run proxies to this relay's Unix socket, and the relay forwards
each connection to Gunicorn's. What it notes is read from the bytes Nginx
sent, on the trusted side: a request Nginx answered itself (a static file,
a cached page, a refused upload) never shows up here, whatever the shop's
own logs say. That holds only while Nginx's path to the relay leads to
it: `moved()` says when the relay's folder or socket was renamed or
replaced since it started (watched with inotify where there is one, and
its inode compared in any case).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["HttpRelay", "RelayedRequest"]

_CHUNK = 65536
# A request line as HTTP/1.x sends it; Nginx speaks HTTP/1.x to an upstream.
# Each follows a CRLF: the blank line ending the previous request's headers,
# or the one a new connection's data is given to start with.
_REQUEST_LINE = re.compile(
    rb"\r\n(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (\S+) HTTP/1\.[01]\r\n"
)
# The longest request line kept from one chunk for the next to complete.
_CARRY = 8192
# inotify(7): the watched folder itself was renamed or removed.
_IN_MOVE_SELF = 0x800
_IN_DELETE_SELF = 0x400


def _folder_watch(folder: Path) -> int | None:
    """Return an inotify descriptor watching `folder` move, or None without one."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        descriptor = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if descriptor < 0:
        return None
    mask = _IN_MOVE_SELF | _IN_DELETE_SELF
    if libc.inotify_add_watch(descriptor, os.fsencode(folder), mask) < 0:
        os.close(descriptor)
        return None
    return int(descriptor)


@dataclass(frozen=True)
class RelayedRequest:
    """One request that reached the shop through the relay."""

    seq: int
    connection: int
    method: str
    path: str


class HttpRelay:
    """Forward connections from `listen` to `target`, noting each request line."""

    def __init__(self, listen: Path, target: Path) -> None:
        self.listen = listen
        self.target = target
        self._lock = threading.Lock()
        self._log: list[RelayedRequest] = []
        self._connections = 0
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = False
        self._inode: tuple[int, int] | None = None
        self._watch: int | None = None
        self._moved = ""

    def __enter__(self) -> HttpRelay:
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
        """Listen on `listen` and relay in background threads."""
        self.listen.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.listen))
        # Nginx runs under the sandbox's user and must be able to connect.
        self.listen.chmod(0o777)
        listener.listen(128)
        self._listener = listener
        found = self.listen.stat()
        self._inode = (found.st_dev, found.st_ino)
        self._watch = _folder_watch(self.listen.parent)
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def close(self) -> None:
        """Stop relaying and remove the socket; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        if self._watch is not None:
            os.close(self._watch)
            self._watch = None
        self.listen.unlink(missing_ok=True)

    def moved(self) -> str:
        """Say how `listen` stopped leading to this relay since it started, or ""."""
        if self._moved or self._inode is None:
            return self._moved
        if self._watch is not None:
            with contextlib.suppress(BlockingIOError):
                if os.read(self._watch, 4096):
                    self._moved = f"{self.listen.parent} was renamed or removed"
        if self._moved:
            return self._moved
        try:
            found = self.listen.stat()
            if (found.st_dev, found.st_ino) != self._inode:
                self._moved = f"{self.listen} is another socket than the relay's"
        except OSError:
            self._moved = f"{self.listen} is gone"
        return self._moved

    def mark(self) -> int:
        """Return the seq the next request will get."""
        with self._lock:
            return len(self._log)

    def requests(self, since: int = 0) -> list[RelayedRequest]:
        """Return the requests relayed from seq `since` on."""
        with self._lock:
            return self._log[since:]

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self._lock:
            if self._closed:
                client.close()
                return
            self._sockets |= {client, server}
            self._connections += 1
            number = self._connections
        try:
            server.connect(str(self.target))
        except OSError:
            self._end(client, server)
            return
        replies = threading.Thread(
            target=self._copy, args=(server, client, None), daemon=True
        )
        replies.start()
        self._copy(client, server, number)
        replies.join()
        self._end(client, server)

    def _copy(
        self, source: socket.socket, target: socket.socket, number: int | None
    ) -> None:
        """Copy until EOF; note request lines when `number` names the connection."""
        carry = b"\r\n"
        with contextlib.suppress(OSError):
            while chunk := source.recv(_CHUNK):
                # Noted before it is passed on: once the shop has answered,
                # the request is in the log, however the threads are scheduled.
                if number is not None:
                    carry = self._note(carry + chunk, number)
                target.sendall(chunk)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def _note(self, data: bytes, number: int) -> bytes:
        end = 0
        for match in _REQUEST_LINE.finditer(data):
            end = match.end()
            with self._lock:
                self._log.append(
                    RelayedRequest(
                        seq=len(self._log),
                        connection=number,
                        method=match.group(1).decode(),
                        path=match.group(2).decode(errors="replace"),
                    )
                )
        # Keep the tail, so a line split between two chunks is still found,
        # but not a line already noted (only its closing CRLF).
        return data[max(end - 2, len(data) - _CARRY, 0) :]

    def _end(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            sock.close()
        with self._lock:
            self._sockets.difference_update(sockets)
