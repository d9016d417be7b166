"""The course's small ASGI services, served by Uvicorn from a thread.

The carriers (`checker.services.carriers`) and the error receiver
(`checker.services.errors`) are each an ASGI app that a test or a command
serves on a Unix socket or a loopback port for as long as it needs them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

__all__ = ["Receive", "Scope", "Send", "ThreadedServer", "lifespan", "respond"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ThreadedServer:
    """Uvicorn serving `app` on `socket` or 127.0.0.1:`port`, from a thread."""

    def __init__(
        self,
        app: Any,
        *,
        name: str,
        socket: Path | None = None,
        port: int | None = None,
        **options: Any,
    ) -> None:
        self.app, self.name, self.socket, self.port = app, name, socket, port
        self.options = options
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve the app; return once it accepts connections."""
        if self.socket is not None:
            self.socket.parent.mkdir(parents=True, exist_ok=True)
            self.socket.unlink(missing_ok=True)
        config = uvicorn.Config(
            self.app,
            uds=str(self.socket) if self.socket else None,
            host="127.0.0.1",
            port=self.port or 0,
            log_level="warning",
            lifespan="on",
            **self.options,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                where = self.socket or f"127.0.0.1:{self.port}"
                raise RuntimeError(f"the {self.name} service did not start on {where}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the server's thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.socket is not None:
            self.socket.unlink(missing_ok=True)


async def respond(send: Send, status: int, body: dict[str, Any]) -> None:
    """Answer with `body` as JSON."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def lifespan(receive: Receive, send: Send) -> None:
    """Complete Uvicorn's startup and shutdown handshake."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
