"""Read the PostgreSQL frontend protocol as far as the proxy needs to.

Startup packets, the messages that run a statement (simple Query, Parse,
Bind, Execute, Close, the old function call) and a FATAL error to send back:
`checker.harness.pgproxy` relays every byte and reads only these.
"""

from __future__ import annotations

import socket
import struct

__all__ = [
    "CANCEL_REQUEST",
    "GSSENC_REQUEST",
    "SSL_REQUEST",
    "Frames",
    "Session",
    "fatal",
    "read_startup",
    "recv_exactly",
    "startup_code",
]

CANCEL_REQUEST = 80877102
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
# PostgreSQL's own limit on a startup packet (MAX_STARTUP_PACKET_LENGTH).
_MAX_STARTUP = 10000
# The client messages whose body is read; all others pass through unread.
_PARSED = frozenset(b"QPBEC")


class Frames:
    """Split the client's stream into messages, across and within reads."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        # Bytes still to pass of a message whose body is not needed.
        self._skip = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Return (type, body) of each parsed message that `data` completes."""
        view = memoryview(data)
        if self._skip:
            skipped = min(self._skip, len(view))
            self._skip -= skipped
            view = view[skipped:]
        buffer = self._buffer
        buffer += view
        messages: list[tuple[int, bytes]] = []
        start = 0
        while len(buffer) - start >= 5:
            kind = buffer[start]
            (length,) = struct.unpack_from("!i", buffer, start + 1)
            if length < 4:
                raise ValueError(f"message length {length} is below 4")
            end = start + 1 + length
            if kind not in _PARSED:
                if end > len(buffer):
                    self._skip = end - len(buffer)
                    start = len(buffer)
                    break
            elif end > len(buffer):
                break
            else:
                messages.append((kind, bytes(buffer[start + 5 : end])))
            start = end
        del buffer[:start]
        return messages


class Session:
    """Track one connection's prepared statements and portals."""

    def __init__(self) -> None:
        self._prepared: dict[bytes, str] = {}
        # portal -> (sql, params), removed when executed: a portal executed
        # again after PortalSuspended only fetches more rows of one statement.
        self._portals: dict[bytes, tuple[str, tuple[str | None, ...]]] = {}

    def handle(
        self, kind: int, body: bytes
    ) -> tuple[str, tuple[str | None, ...]] | None:
        """Return (sql, params) if message `kind` executes a statement."""
        if kind == ord("Q"):
            # A string of several statements is one Query, so one entry.
            return _text(body.rstrip(b"\0")), ()
        if kind == ord("F"):
            # The old fast-path call runs a function by its oid without any
            # SQL text: it still counts, so no work can hide in it.
            return f"-- function call {int.from_bytes(body[:4], 'big')}", ()
        if kind == ord("P"):
            name, rest = _cstring(body, 0)
            sql, _ = _cstring(body, rest)
            self._prepared[name] = _text(sql)
        elif kind == ord("B"):
            portal, statement, params = _bind(body)
            self._portals[portal] = (self._prepared.get(statement, ""), params)
        elif kind == ord("E"):
            portal, _ = _cstring(body, 0)
            return self._portals.pop(portal, None)
        elif kind == ord("C"):
            name, _ = _cstring(body, 1)
            closed = self._prepared if body[:1] == b"S" else self._portals
            closed.pop(name, None)
        return None


def _bind(body: bytes) -> tuple[bytes, bytes, tuple[str | None, ...]]:
    """Return the portal, the statement name and the parameters of a Bind."""
    portal, offset = _cstring(body, 0)
    statement, offset = _cstring(body, offset)
    (count,) = struct.unpack_from("!h", body, offset)
    formats = struct.unpack_from(f"!{count}h", body, offset + 2)
    offset += 2 + 2 * count
    (count,) = struct.unpack_from("!h", body, offset)
    offset += 2
    params: list[str | None] = []
    for index in range(count):
        (length,) = struct.unpack_from("!i", body, offset)
        offset += 4
        if length < 0:
            params.append(None)
            continue
        value = body[offset : offset + length]
        offset += length
        # No format codes: all text; one code: all of that format.
        binary = formats[index if len(formats) > 1 else 0] if formats else 0
        params.append(repr(value) if binary else _text(value))
    return portal, statement, tuple(params)


def _cstring(body: bytes, offset: int) -> tuple[bytes, int]:
    end = body.index(b"\0", offset)
    return body[offset:end], end + 1


def _text(value: bytes) -> str:
    # The shop's client_encoding is UTF8 (Django sets it).
    return value.decode(errors="replace")


def startup_code(packet: bytes) -> int:
    (code,) = struct.unpack_from("!i", packet, 4)
    return int(code)


def read_startup(client: socket.socket) -> bytes | None:
    """Return the client's next startup packet, length included."""
    head = recv_exactly(client, 4)
    if head is None:
        return None
    (length,) = struct.unpack("!i", head)
    if not 8 <= length <= _MAX_STARTUP:
        return None
    body = recv_exactly(client, length - 4)
    return None if body is None else head + body


def recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def fatal(sqlstate: str, message: str) -> bytes:
    """Build a FATAL ErrorResponse as the server would send it."""
    fields = b"".join(
        kind + value.encode() + b"\0"
        for kind, value in (
            (b"S", "FATAL"),
            (b"V", "FATAL"),
            (b"C", sqlstate),
            (b"M", message),
        )
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body
