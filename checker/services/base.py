"""What every embedded service offers, and the error a learner reads."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class ServiceError(Exception):
    """A service failed; the message says which, why and what to try."""

    def __init__(self, service: str, why: str, fix: str) -> None:
        self.service = service
        self.why = why
        self.fix = fix
        super().__init__(f"{service} could not start: {why}\nTry: {fix}")


@dataclass(frozen=True)
class Status:
    """Whether a service runs, where, and anything odd found on disk."""

    name: str
    running: bool
    pid: int | None
    address: str
    note: str = ""


def pid_alive(pid: int) -> bool:
    """Return True if a live (not zombie) process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A daemon killed in a container whose init does not reap children stays
    # a zombie: it still has a pid but serves nothing.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def unix_reply(path: Path, request: bytes, *, timeout: float = 2.0) -> bytes:
    """Send `request` to the server on the Unix socket `path`; return its answer.

    Only the first bytes, or b"" when nothing listens or answers in time. A
    probe that needs no client library, so a check starts its run sooner.
    """
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(request)
        return sock.recv(64)
    return b""


def read_pid(path: Path) -> int | None:
    """Return the pid on the first line of a pid file, or None if unreadable."""
    try:
        first = path.read_text().splitlines()[0].strip()
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def wait_until(check: Callable[[], bool], *, timeout: float) -> bool:
    """Poll `check` until it returns True or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def process_stop(pid: int, *, timeout: float = 10) -> None:
    """Ask the process `pid` to stop (SIGTERM); kill it if it outlives `timeout`."""
    os.kill(pid, signal.SIGTERM)
    if not wait_until(lambda: not pid_alive(pid), timeout=timeout):
        os.kill(pid, signal.SIGKILL)


def log_tail(path: Path, lines: int = 8) -> str:
    """Return the last lines of a log file, indented, for an error message."""
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no log written)"
    return "\n".join(f"    {line}" for line in text)
