"""Run the PostgreSQL server bundled with pgserver, controlled with pg_ctl."""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import struct
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checker.services.base import (
    ServiceError,
    Status,
    log_tail,
    pid_alive,
    read_pid,
    unix_reply,
    wait_until,
)

if TYPE_CHECKING:
    import psycopg
from checker.services.layout import Layout
from checker.services.urls import DATABASE_NAME

NAME = "PostgreSQL"
# PostgreSQL refuses to run as root, so as root it runs as this user
# (the one pgserver itself creates).
_SYSTEM_USER = "pgserver"


def _startup_packet(**parameters: str) -> bytes:
    """Return a protocol 3.0 StartupMessage with these parameters."""
    body = struct.pack("!i", 3 << 16) + b"".join(
        f"{key}\0{value}\0".encode() for key, value in parameters.items()
    )
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


_STARTUP = _startup_packet(user="postgres", database="postgres")
_TERMINATE = b"X" + struct.pack("!i", 4)


def _install_dir() -> Path:
    # Locate the binaries without importing pgserver, whose import registers
    # process-wide lock files and warnings this manager does not need.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(
            NAME,
            "the pgserver package is not installed.",
            "run `make start`, or set DATABASE_URL to a PostgreSQL you run.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _bin(program: str) -> str:
    return str(_install_dir() / "bin" / program)


def _server_major() -> str:
    """Return the bundled server's major version as PG_VERSION spells it, or ''."""
    try:
        done = subprocess.run(
            [_bin("pg_ctl"), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    # "pg_ctl (PostgreSQL) 16.2": the major version alone names a cluster's
    # on-disk format from PostgreSQL 10 on.
    version = re.search(r"\) (\d+)", done.stdout)
    return version.group(1) if version else ""


def _open_path_to(path: Path) -> None:
    """Let other users traverse every folder above `path` (chmod o+x)."""
    for folder in path.parents:
        folder.chmod(folder.stat().st_mode | 0o055)


class EmbeddedPostgres:
    """A PostgreSQL cluster under `.course/`, reached through a Unix socket."""

    name = NAME

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.data = layout.postgres_data
        self.log = layout.logs / "postgres.log"
        self.socket = layout.run / ".s.PGSQL.5432"

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, args: list[str], **kwargs: Any) -> None:
        if self._as_root:
            kwargs["user"] = _SYSTEM_USER
        subprocess.run(args, check=True, capture_output=True, timeout=60, **kwargs)

    def _connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(
            host=str(self.layout.run),
            user="postgres",
            dbname=dbname,
            connect_timeout=2,
            autocommit=True,
        )

    def _accepts(self) -> bool:
        # "R": the server goes on to authentication (granted, with trust);
        # "E" while it starts up or shuts down. Terminate ends the session.
        return unix_reply(self.socket, _STARTUP + _TERMINATE).startswith(b"R")

    def status(self) -> Status:
        """Report whether the server runs and accepts connections."""
        pid = read_pid(self.data / "postmaster.pid")
        alive = pid is not None and pid_alive(pid)
        note = ""
        if pid is not None and not alive:
            note = f"stale postmaster.pid: process {pid} is gone"
        elif not alive and self.socket.exists():
            note = "stale socket: no server behind it"
        running = alive and self._accepts()
        return Status(NAME, running, pid if alive else None, str(self.socket), note)

    def start(self) -> list[str]:
        """Initialise the cluster if needed and start it; return what was done."""
        current = self.status()
        if current.running:
            return []
        self._version_check()
        messages = self._clear_stale(current)
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        try:
            if self._as_root:
                self._grant_system_user()
            messages += self._initdb()
            self._prepare_run_dir()
            self._run(
                [
                    _bin("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    "30",
                    # No TCP listener: only the socket, so the system server on
                    # port 5432 is never in the way.
                    "-o",
                    f"-h '' -k {self.layout.run}",
                    "start",
                ]
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise ServiceError(
                NAME,
                f"{_describe(error)}\n{log_tail(self.log)}",
                "run `course services down` then `course services up`; if it "
                f"still fails, move {self.data} aside (the next start creates "
                "a fresh one; reseed with `course seed`), or set DATABASE_URL "
                "to a PostgreSQL you run.",
            ) from error
        if not wait_until(self._accepts, timeout=15):
            raise ServiceError(
                NAME,
                f"the server started but refuses connections on {self.socket}."
                f"\n{log_tail(self.log)}",
                "run `course services down` then `course services up`.",
            )
        self._create_database()
        return [*messages, f"Started {NAME} on {self.socket}."]

    def _version_check(self) -> None:
        """Refuse a cluster another major version made, before touching it.

        A new embedded package may bundle a newer PostgreSQL, which cannot
        open the learner's existing cluster; starting would fail with a
        cryptic log line, and creating a new cluster over it would lose the
        data. Nothing is moved or deleted here: the learner chooses.
        """
        found = self.data / "PG_VERSION"
        made = found.read_text().strip() if found.exists() else ""
        # A damaged PG_VERSION is left to the server to report.
        ours = _server_major() if made.isdigit() else ""
        if not ours or made == ours:
            return
        raise ServiceError(
            NAME,
            f"the cluster in {self.data} was made by PostgreSQL {made}, and the "
            f"embedded server installed now is PostgreSQL {ours}, which cannot "
            "open it. Nothing was changed: your data is still there.",
            f"keep it aside with `mv {self.data} {self.data}-{made}`, then run "
            "`course services up` (a new, empty cluster) and `course seed`; to "
            f"carry rows of your own over, dump them first with PostgreSQL "
            f"{made}'s pg_dump. Or set DATABASE_URL to a PostgreSQL you run.",
        )

    def _clear_stale(self, current: Status) -> list[str]:
        if not current.note:
            return []
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        Path(f"{self.socket}.lock").unlink(missing_ok=True)
        return [f"Found a {current.note} (probably after a crash); removed it."]

    def _initdb(self) -> list[str]:
        if (self.data / "PG_VERSION").exists():
            return []
        self._run(
            [
                _bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ]
        )
        return [f"Created a {NAME} cluster in {self.data}."]

    def _grant_system_user(self) -> None:
        try:
            user = pwd.getpwnam(_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", _SYSTEM_USER],
                check=True,
                capture_output=True,
            )
            user = pwd.getpwnam(_SYSTEM_USER)
        _open_path_to(self.data)
        for folder, _, files in os.walk(_install_dir()):
            for name in [folder, *(os.path.join(folder, f) for f in files)]:
                os.chmod(name, os.stat(name).st_mode | 0o055)
        if not (self.data / "PG_VERSION").exists():
            os.chown(self.data, user.pw_uid, user.pw_gid)
        self.log.touch()
        os.chown(self.log, user.pw_uid, user.pw_gid)

    def _prepare_run_dir(self) -> None:
        self.layout.run.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            _open_path_to(self.layout.run)
            # The server, running as its own user, writes its socket here.
            self.layout.run.chmod(0o1777)

    def _create_database(self) -> None:
        with self._connect() as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def stop(self) -> list[str]:
        """Stop the server if it runs; return what was done."""
        pid = read_pid(self.data / "postmaster.pid")
        if pid is None or not pid_alive(pid):
            return []
        try:
            self._run(
                [_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop"]
            )
        except subprocess.SubprocessError as error:
            raise ServiceError(
                NAME,
                f"pg_ctl stop failed: {_describe(error)}",
                f"stop process {pid} by hand, then run `course services up`.",
            ) from error
        return [f"Stopped {NAME}."]


def _describe(error: BaseException) -> str:
    stderr = getattr(error, "stderr", None)
    if isinstance(stderr, bytes) and stderr.strip():
        return stderr.decode(errors="replace").strip()
    return str(error)
