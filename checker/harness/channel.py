"""Frame JSON messages over a stream socket: the trusted side's command channel.

Each message is a 4-byte big-endian length and that many bytes of UTF-8 JSON.
The shop's stdout and stderr stay free for whatever the shop prints.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

__all__ = ["ChannelClosed", "message_read", "message_write"]

_HEADER = struct.Struct(">I")
# A reply carries a page or an export; anything larger is a flood, not an answer.
MAX_MESSAGE = 64 * 1024 * 1024


class ChannelClosed(ConnectionError):
    """The other end closed the channel or sent something that is not a message."""


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ChannelClosed("the channel closed in the middle of a message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def message_read(sock: socket.socket) -> Any:
    """Read one message; raise ChannelClosed at the end of the stream."""
    header = sock.recv(_HEADER.size, socket.MSG_WAITALL)
    if len(header) < _HEADER.size:
        raise ChannelClosed("the channel closed")
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ChannelClosed(f"a message of {size} bytes is over the channel's limit")
    try:
        return json.loads(_exactly(sock, size))
    except ValueError as error:
        raise ChannelClosed(f"a message was not JSON: {error}") from error


def message_write(sock: socket.socket, message: Any) -> None:
    """Write one message."""
    data = json.dumps(message, default=str).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)
