"""The carriers' quote service as a background process, for `runserver`.

Tests and notebooks serve the carriers from a thread of their own process
(`CarrierService`); a learner clicking through the shop under `runserver`
needs them running on the socket the shop's settings name by default, so
`manage.py runserver` starts this process once, and `course services down`
stops it with the database and the cache.
"""

from __future__ import annotations

import os
import signal
import sys

from checker.services.base import (
    ServiceError,
    Status,
    log_tail,
    pid_alive,
    process_stop,
    read_pid,
    unix_reply,
    wait_until,
)
from checker.services.carriers import carriers_socket
from checker.services.layout import Layout

__all__ = ["BackgroundCarriers"]

NAME = "the carriers' quote service"
START_SECONDS = 15
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND


class BackgroundCarriers:
    """Start, stop and report `python -m checker.services.carriers` on its socket."""

    def __init__(self, layout: Layout | None = None) -> None:
        self.layout = layout or Layout.default()
        self.socket = carriers_socket(self.layout)
        self.pidfile = self.layout.run / "carriers.pid"
        self.log = self.layout.logs / "carriers.log"

    def _answers(self) -> bool:
        return unix_reply(self.socket, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/")

    def status(self) -> Status:
        """Report whether the service runs and answers on its socket."""
        pid = read_pid(self.pidfile)
        alive = pid is not None and pid_alive(pid)
        note = ""
        if pid is not None and not alive:
            note = f"stale pid file: process {pid} is gone"
        running = alive and self._answers()
        return Status(NAME, running, pid if alive else None, str(self.socket), note)

    def start(self) -> list[str]:
        """Start the service unless something answers on its socket already."""
        if self._answers():
            return []
        self.pidfile.unlink(missing_ok=True)
        # A socket file with nobody behind it (a killed service) refuses the
        # new server's bind: remove it.
        self.socket.unlink(missing_ok=True)
        for folder in (self.layout.logs, self.layout.run):
            folder.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "checker.services.carriers",
            "--socket",
            str(self.socket),
        ]
        pid = os.posix_spawn(
            sys.executable,
            command,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(self.log), _APPEND, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            # Its own session: Ctrl-C on runserver does not reach it.
            setsid=True,
        )
        self.pidfile.write_text(f"{pid}\n")
        if not wait_until(self._answers, timeout=START_SECONDS):
            os.kill(pid, signal.SIGKILL)
            raise ServiceError(
                NAME,
                f"nothing answered on {self.socket} within {START_SECONDS} s:\n"
                f"{log_tail(self.log)}",
                f"read {self.log}, or point CARRIERS_URL at a carrier service "
                "of your own",
            )
        return [f"Started {NAME} on {self.socket} (log: {self.log})."]

    def stop(self) -> list[str]:
        """Stop the service if this course started it; return what was done."""
        pid = read_pid(self.pidfile)
        self.pidfile.unlink(missing_ok=True)
        if pid is None or not pid_alive(pid):
            return []
        process_stop(pid)
        self.socket.unlink(missing_ok=True)
        return [f"Stopped {NAME}."]
