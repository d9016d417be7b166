"""The shop served by Gunicorn beside the run, as a deployment serves it.

`Served.start()` runs `gunicorn config.wsgi` with several workers on a Unix
socket in the run's home folder, in the run's sandbox when it has one, with
the error receiver's relay beside it (`checker.services.errors --forward`)
so the Sentry SDK in every worker can reach a receiver outside the sandbox.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket as sockets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from checker.harness.run import ShopRun

__all__ = ["Served", "free_port", "relay_port", "relayed", "tree_kill"]

START_SECONDS = 30.0
# The relay's port inside a sandbox, whose network namespace is its own.
SANDBOX_PORT = 9010


def free_port() -> int:
    """Return a loopback TCP port no one listens on now."""
    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tree_kill(run: ShopRun, process: Any) -> None:
    """Kill the tree of a process `run.spawn()` started; safe to call twice."""
    if process.poll() is not None:
        return
    # A sandboxed tree dies with its bwrap process's pid namespace; one
    # outside a sandbox leads its own session.
    with contextlib.suppress(ProcessLookupError):
        if run.sandbox is not None:
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def relay_port(run: ShopRun) -> int:
    """Return a loopback port for a relay of one process `run.spawn()` starts."""
    return SANDBOX_PORT if run.sandbox is not None else free_port()


def relayed(argv: list[str], *, relay: Path, port: int) -> list[str]:
    """Return `argv` run with the error receiver's relay beside it on `port`."""
    return [
        sys.executable, "-m", "checker.services.errors",
        "--forward", str(relay), "--port", str(port), "--", *argv,
    ]  # fmt: skip


class Served:
    """Gunicorn serving the shop's WSGI app with `workers` worker processes."""

    def __init__(self, run: ShopRun, *, workers: int = 2, name: str = "gunicorn"):
        self.run = run
        self.workers = workers
        home = run.plan.folder / "home"
        self.socket = home / f"{name}.sock"
        self.log = run.plan.folder / "errors" / f"{name}.log"
        self.log.parent.mkdir(exist_ok=True)
        self.relay_port = relay_port(run)
        self.process: Any = None

    def folder(self, name: str) -> Path:
        """Return an empty folder in the run's home that the shop can write to."""
        folder = self.socket.parent / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        sandbox = self.run.plan.sandbox
        if sandbox is not None:
            # The sandboxed shop runs as a user of its own.
            os.chown(folder, sandbox["uid"], sandbox["gid"])
        return folder

    def start(self, *, env: dict[str, str], relay: Path | None = None) -> None:
        """Start Gunicorn; return once it answers, or fail with what it printed.

        With `relay`, the error receiver listening there is reachable at
        `self.relay_port` on loopback.
        """
        self.socket.unlink(missing_ok=True)
        argv = [
            sys.executable, "-m", "gunicorn",
            "--bind", f"unix:{self.socket}",
            "--workers", str(self.workers),
            "--worker-tmp-dir", str(self.socket.parent),
            "--log-level", "warning",
            "config.wsgi:application",
        ]  # fmt: skip
        with self.log.open("wb") as output:
            if relay is not None:
                argv = relayed(argv, relay=relay, port=self.relay_port)
            self.process = self.run.spawn(argv, env=env, output=output)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.socket.exists():
                try:
                    self.get("/no-such-page/")
                    return
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-2000:]
        self.stop()
        raise AssertionError(
            f"The shop did not start under Gunicorn (gunicorn config.wsgi, "
            f"{self.workers} workers) within {START_SECONDS:.0f} s."
            f"{f' It printed: {tail}' if tail else ''}"
        )

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """Yield an HTTP client to the shop, keeping cookies between requests."""
        transport = httpx.HTTPTransport(uds=str(self.socket))
        with httpx.Client(
            transport=transport, base_url="http://localhost", timeout=30
        ) as client:
            yield client

    def get(self, path: str, **options: Any) -> httpx.Response:
        """GET `path` on a fresh connection."""
        with self.client() as client:
            return client.get(path, **options)

    def stop(self) -> None:
        """Kill Gunicorn's tree and the relay; safe to call twice."""
        if self.process is not None:
            tree_kill(self.run, self.process)
