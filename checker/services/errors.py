"""An error receiver that speaks Sentry's envelope protocol, for the real sentry-sdk.

`sentry_sdk.init(dsn="http://course@127.0.0.1:9010/1")` sends each error and
transaction as an envelope to `POST /api/1/envelope/`; the receiver decodes
it (gzip, deflate, or Brotli when the `brotli` package is installed), keeps
it, and answers 200 as Sentry does. With a store folder it also writes each
envelope there as received, one file each, so another process can read them.

Run it by hand with `python -m checker.services.errors` (it prints the DSN
to set), or start it from Python with `ErrorReceiver`. A shop in a network
namespace of its own reaches a receiver outside through `--forward`, which
relays a loopback port inside to the receiver's Unix socket.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checker.services.asgi import (
    Receive,
    Scope,
    Send,
    ThreadedServer,
    lifespan,
    respond,
)
from checker.services.layout import Layout

__all__ = ["Envelope", "EnvelopeError", "ErrorReceiver", "envelope_parse"]

DEFAULT_PORT = 9010
ENVELOPE_PATH = re.compile(r"^/api/(?P<project>[0-9]+)/envelope/?$")
# Sentry refuses envelopes over 200 MB; a course receiver needs far less.
MAX_BYTES = 20 * 1024 * 1024


class EnvelopeError(ValueError):
    """A request body that is not a Sentry envelope."""


@dataclass(frozen=True)
class Envelope:
    """One envelope as received: its header, its items, and the raw bytes."""

    project: str
    header: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]]
    raw: bytes

    def payloads(self, kind: str) -> list[dict[str, Any]]:
        """Return the JSON payloads of the items of type `kind` ("event", ...)."""
        found = []
        for header, payload in self.items:
            if header.get("type") == kind:
                found.append(json.loads(payload))
        return found


def envelope_parse(raw: bytes, *, project: str = "") -> Envelope:
    """Split an envelope's bytes into its header and items.

    An item's payload is `length` bytes long when its header says so, and
    runs to the end of the line otherwise (the protocol allows both).
    """
    lines = raw.split(b"\n", 1)
    try:
        header = json.loads(lines[0])
    except ValueError as error:
        raise EnvelopeError(f"the envelope's first line is not JSON: {error}") from None
    rest = lines[1] if len(lines) > 1 else b""
    items: list[tuple[dict[str, Any], bytes]] = []
    while rest.strip():
        head, _, rest = rest.partition(b"\n")
        try:
            item = json.loads(head)
        except ValueError:
            raise EnvelopeError(f"item {len(items) + 1}'s header is not JSON") from None
        if "length" in item:
            length = int(item["length"])
            if len(rest) < length:
                raise EnvelopeError(
                    f"item {len(items) + 1} says {length} bytes, {len(rest)} follow"
                )
            payload, rest = rest[:length], rest[length:]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((item, payload))
    if not isinstance(header, dict):
        raise EnvelopeError("the envelope's header is not a JSON object")
    return Envelope(project=project, header=header, items=items, raw=raw)


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        try:
            import brotli
        except ImportError:
            raise EnvelopeError(
                "the body is Brotli-compressed and the `brotli` package is not"
                " installed here; install it, or set"
                " `transport_compression_algo` to gzip in sentry_sdk.init()"
            ) from None
        return bytes(brotli.decompress(body))
    raise EnvelopeError(f"unknown Content-Encoding {encoding!r}")


class ErrorReceiver:
    """The receiver's ASGI app, served by Uvicorn on a Unix socket or a port.

    `with ErrorReceiver(socket=path, store=folder) as receiver:` serves it
    from a thread of this process until the block ends.
    """

    def __init__(
        self,
        *,
        socket: Path | None = None,
        port: int | None = None,
        store: Path | None = None,
    ) -> None:
        if (socket is None) == (port is None):
            raise ValueError("give the receiver a socket or a port")
        self.socket, self.port, self.store = socket, port, store
        self._received: list[Envelope] = []
        self._lock = threading.Lock()
        self._serving = ThreadedServer(
            self, name="error receiver", socket=socket, port=port
        )

    def envelopes(self, since: int = 0) -> list[Envelope]:
        """Return the envelopes received, from the `since`-th on."""
        with self._lock:
            return self._received[since:]

    def mark(self) -> int:
        """Return how many envelopes have arrived, for `envelopes(since=...)`."""
        with self._lock:
            return len(self._received)

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        """Return the error events received, from the `since`-th envelope on."""
        return [e for env in self.envelopes(since) for e in env.payloads("event")]

    def dsn(self, port: int | None = None) -> str:
        """Return the DSN a client sends to, through `port` when relayed."""
        return f"http://course@127.0.0.1:{port or self.port}/1"

    def _keep(self, envelope: Envelope) -> None:
        with self._lock:
            number = len(self._received) + 1
            self._received.append(envelope)
        if self.store is not None:
            self.store.mkdir(parents=True, exist_ok=True)
            (self.store / f"{number:06d}.envelope").write_bytes(envelope.raw)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        found = ENVELOPE_PATH.match(scope["path"])
        if found is None or scope["method"] != "POST":
            await respond(
                send,
                404,
                {"detail": "send envelopes with POST /api/<project id>/envelope/"},
            )
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BYTES:
                await respond(send, 413, {"detail": "the envelope is too large"})
                return
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        encoding = headers.get(b"content-encoding", b"").decode().strip().lower()
        try:
            envelope = envelope_parse(
                _decoded(body, encoding), project=found["project"]
            )
        except (EnvelopeError, zlib.error) as error:
            await respond(send, 400, {"detail": f"not a Sentry envelope: {error}"})
            return
        self._keep(envelope)
        await respond(send, 200, {"id": envelope.header.get("event_id")})

    def __enter__(self) -> ErrorReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Serve the app from a thread; return once it accepts connections."""
        self._serving.start()

    def stop(self) -> None:
        """Stop serving and wait for the server's thread."""
        self._serving.stop()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def forward(
    *, port: int, socket: Path, ready: threading.Event | None = None
) -> None:
    """Relay connections to 127.0.0.1:`port` to the receiver on `socket`."""

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(
                str(socket)
            )
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, upstream_writer), _pipe(upstream_reader, writer)
        )

    server = await asyncio.start_server(relay, "127.0.0.1", port)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()


def _forward_beside(*, port: int, socket: Path, command: list[str]) -> int:
    """Run `command` with the relay beside it, in its network namespace."""
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    relay = loop.create_task(forward(port=port, socket=socket, ready=ready))
    thread = threading.Thread(
        target=loop.run_until_complete, args=(relay,), name="relay", daemon=True
    )
    thread.start()
    # The command's first report must find the relay listening.
    if not ready.wait(timeout=10):
        raise SystemExit(f"the relay could not listen on 127.0.0.1:{port}")
    # The command exits with its own status; the relay dies with this process.
    return subprocess.call(command)


def main(argv: list[str] | None = None) -> None:
    """Receive envelopes until interrupted, or relay a port to a receiver."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--store", type=Path, help="default: .course/errors/")
    parser.add_argument(
        "--forward",
        type=Path,
        metavar="SOCKET",
        help="relay 127.0.0.1:PORT to the receiver listening on SOCKET",
    )
    parser.add_argument(
        "command", nargs="*", help="with --forward: run it, the relay beside it"
    )
    options = parser.parse_args(argv)
    if options.forward and options.command:
        raise SystemExit(
            _forward_beside(
                port=options.port, socket=options.forward, command=options.command
            )
        )
    if options.forward:
        asyncio.run(forward(port=options.port, socket=options.forward))
        return
    if options.command:
        parser.error("a command runs only beside a relay: add --forward SOCKET")
    store = options.store or Layout.default().home / "errors"
    receiver = ErrorReceiver(port=options.port, store=store)
    try:
        receiver.start()
    except RuntimeError as error:
        raise SystemExit(
            f"{error}: is the port taken? Choose another with --port."
        ) from None
    print(
        f"Receiving errors on 127.0.0.1:{options.port}, keeping them in {store}.\n"
        f"Set SENTRY_DSN={receiver.dsn()} for the shop. Ctrl-C stops."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()
