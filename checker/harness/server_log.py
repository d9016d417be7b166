"""Read the PostgreSQL server's own log from the trusted side, over SQL.

The embedded server writes its log to `.course/logs/postgres.log` (`pg_ctl
-l`); Debian's `pg_ctlcluster` writes the system server's under
`/var/log/postgresql/`. Either way, without the logging collector the log is
the postmaster's standard error, which every backend inherits, so a
superuser session reads it as `/proc/self/fd/2` with `pg_read_binary_file()`,
on a local server or a remote one. With the collector on,
`pg_current_logfile()` names the file instead.

Entries are told apart by the process id that `log_line_prefix` carries
(`%p`): a session's own lines are those of its backend. A message of several
lines continues on lines that start with a tab, so no text a session sends
can pass for the start of another session's entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

__all__ = ["LogEntry", "LogUnreadable", "ServerLog"]

# What one read may bring back: a run's own lines are a few kilobytes, and a
# busy shared server must not fill the grader's memory.
READ_LIMIT = 16 * 1024 * 1024
_STDERR = "/proc/self/fd/2"
_START = re.compile(
    r"^(?P<prefix>.*?)\[(?P<pid>\d+)\][^\t]*?"
    r"\b(?P<level>LOG|WARNING|ERROR|FATAL|PANIC|DETAIL|HINT|CONTEXT|STATEMENT"
    r"|NOTICE|INFO|DEBUG\d?):  (?P<message>.*)$"
)


class LogUnreadable(Exception):
    """The server's log cannot be read, and why, in words for a learner."""


@dataclass(frozen=True)
class LogEntry:
    """One entry of the server's log: its backend, level and whole message."""

    pid: int
    level: str
    message: str


class ServerLog:
    """The log of the server behind a superuser connection."""

    def __init__(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        self.connection = connection
        self.path = self._locate()

    def _setting(self, name: str) -> str:
        row = self.connection.execute(
            "SELECT setting FROM pg_settings WHERE name = %s", [name]
        ).fetchone()
        return str(row[0]) if row else ""

    def _locate(self) -> str:
        prefix = self._setting("log_line_prefix")
        if "%p" not in prefix:
            raise LogUnreadable(
                f"the server's log_line_prefix is {prefix!r}, without %p, so no"
                " line of its log says which session wrote it. Put %p in it"
                " (the default is '%m [%p] ') and reload the server."
            )
        if "stderr" not in self._setting("log_destination").split(","):
            raise LogUnreadable(
                "the server's log_destination leaves out stderr, the plain-text"
                " log this reads. Add stderr to it and reload the server."
            )
        try:
            row = self.connection.execute(
                "SELECT pg_current_logfile('stderr')"
            ).fetchone()
        except psycopg.errors.InsufficientPrivilege as error:
            raise LogUnreadable(
                f"reading the server's log needs a superuser connection ({error})."
            ) from None
        return str(row[0]) if row and row[0] else _STDERR

    def mark(self) -> int:
        """Return the log's size now: the offset later reads start from."""
        try:
            row = self.connection.execute(
                "SELECT (pg_stat_file(%s)).size", [self.path]
            ).fetchone()
        except psycopg.Error as error:
            raise LogUnreadable(
                f"the server cannot stat its log {self.path} ({error})."
            ) from None
        return int(row[0]) if row else 0

    def read(self, since: int) -> str:
        """Return the log's text written since offset `since`."""
        try:
            row = self.connection.execute(
                "SELECT pg_read_binary_file(%s, %s, %s)",
                [self.path, since, READ_LIMIT],
            ).fetchone()
        except psycopg.Error as error:
            raise LogUnreadable(
                f"the server cannot read its log {self.path} ({error})."
            ) from None
        return bytes(row[0]).decode(errors="replace") if row and row[0] else ""

    def entries(self, since: int, *, pid: int) -> list[LogEntry]:
        """Return the entries backend `pid` wrote since offset `since`."""
        return [e for e in entries_parse(self.read(since)) if e.pid == pid]


def entries_parse(text: str) -> list[LogEntry]:
    """Split log text into entries; a tab-led line continues the one before."""
    found: list[LogEntry] = []
    for line in text.splitlines():
        if line.startswith("\t") and found:
            last = found[-1]
            found[-1] = LogEntry(last.pid, last.level, f"{last.message}\n{line[1:]}")
            continue
        start = _START.match(line)
        if start:
            found.append(LogEntry(int(start["pid"]), start["level"], start["message"]))
    return found
