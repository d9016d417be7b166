"""What pg_stat_statements counted for one run, read from the trusted side.

PostgreSQL adds up, for each statement by its normalised text, the calls,
time, rows and shared buffers of every statement a role runs in a database.
The trusted side reads those of the run's role and database from the
maintenance database `postgres`, where the shop can define nothing: a view
or function of the shop's own called pg_stat_statements is never read.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psycopg

from checker import sql
from checker.harness.database import _maintenance

__all__ = [
    "Statement",
    "StatementsUnavailable",
    "statements_read",
    "statements_reset",
]

_RUN = (
    "userid = %s::regrole AND dbid = (SELECT oid FROM pg_database WHERE datname = %s)"
)


class StatementsUnavailable(Exception):
    """pg_stat_statements cannot count this run, and why, in words for a learner."""


@dataclass(frozen=True)
class Statement:
    """One row of pg_stat_statements: a statement and what all its calls cost."""

    query: str
    calls: int
    total_ms: float
    rows: int
    # Shared buffers touched, found in PostgreSQL's cache or read from disk.
    buffers: int

    def short(self) -> str:
        """Return the statement as one line, its SELECT list as `...`."""
        return sql.shorten(self.query, 100)


def statements_reset(role: str, database: str) -> None:
    """Forget what was counted for `role` in `database`; count from now on.

    Raise StatementsUnavailable when the server does not load the module.
    """
    with _maintenance() as connection:
        row = connection.execute("SHOW shared_preload_libraries").fetchone()
        loaded = [name.strip() for name in str(row[0] if row else "").split(",")]
        if "pg_stat_statements" not in loaded:
            raise StatementsUnavailable(
                "the PostgreSQL server does not preload pg_stat_statements, so"
                " it counts no statement. Add it to the server's"
                " shared_preload_libraries, keeping what it lists, and restart"
                " the server; the embedded server that `make start` runs"
                " preloads it."
            )
        # Another run may create it at the same moment.
        with contextlib.suppress(psycopg.errors.UniqueViolation):
            connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        connection.execute(
            "SELECT pg_stat_statements_reset(%s::regrole::oid,"
            " (SELECT oid FROM pg_database WHERE datname = %s), 0)",
            [role, database],
        )


# How a reading can rank the statements: by the shared buffers or by the
# time all their calls took.
_ORDER = {
    "buffers": "buffers DESC, total_exec_time DESC",
    "time": "total_exec_time DESC",
}


def statements_read(role: str, database: str, by: str = "buffers") -> list[Statement]:
    """Return what was counted for `role` in `database`, the most first `by`."""
    with _maintenance() as connection:
        rows = connection.execute(
            "SELECT query, calls, total_exec_time, rows,"
            " shared_blks_hit + shared_blks_read AS buffers"
            f" FROM pg_stat_statements WHERE {_RUN} ORDER BY {_ORDER[by]}",
            [role, database],
        ).fetchall()
    return [
        Statement(str(query), int(calls), float(ms), int(found), int(buffers))
        for query, calls, ms, found, buffers in rows
    ]
