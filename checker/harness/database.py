"""Give each grading run its own PostgreSQL role and database, and read them.

The run's role is an ordinary login role: not a superuser, no CREATEDB,
CREATEROLE, REPLICATION or BYPASSRLS, a connection limit and a default
`statement_timeout`. It owns one database that only it may connect to.

Every connection the trusted side makes here is a superuser one, built from
`service_urls().database` (the embedded server's Unix socket, or DATABASE_URL).

With `trust` authentication, as on the embedded server and on a developer's
own PostgreSQL, passwords are not checked: anyone who can reach the server
may log in as any role. The fence is then the role's name and privileges, so
the proxy in front of the shop must pin the user name (and the database name)
it passes on; with `scram-sha-256` the random password fences too.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from checker.services.base import pid_alive
from checker.services.urls import database_url

PREFIX = "course_run_"
CONNECTION_LIMIT = 20
STATEMENT_TIMEOUT_MS = 30_000
# Below this many bytes of table data, deleting rows beats TRUNCATE's files.
DELETE_BELOW_BYTES = 8 * 1024 * 1024
# The shop process caches content types and permissions by id, so emptying
# them between scenarios would leave it pointing at rows that are gone.
KEPT_TABLES = frozenset(
    {"django_migrations", "django_content_type", "auth_permission", "django_site"}
)
_TOKEN = re.compile(r"[a-z0-9_]{1,40}")
_OWNER = re.compile(r"course run: pid=(\d+) start=(\d*) host=(\S+)")
# Serialises the one-time REVOKE on other databases: two sessions granting on
# the same pg_database row at once fail with "tuple concurrently updated".
_FENCE_LOCK = 0x636F7572
_USER_RELATIONS = (
    "SELECT n.nspname, c.relname FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
)


@dataclass(frozen=True)
class RunDatabase:
    """One run's role and database, named alike so `sameuser` rules fit."""

    role: str
    password: str
    name: str

    def shop_url(self, *, folder: Path | str) -> str:
        """Return the DATABASE_URL the shop uses through the proxy at `folder`."""
        return (
            f"postgres://{self.role}:{quote(self.password, safe='')}@/{self.name}"
            f"?host={quote(str(folder), safe='/')}"
        )

    def url(self) -> str:
        """Return the URL of the run's database with the run's role as login.

        Its search path names the shop's schema only, so a schema the role
        made (one named after itself, say) cannot stand in for the tables.
        """
        parts = urlsplit(database_url(self.name, libpq=True))
        host = parts.netloc.rpartition("@")[2]
        login = f"{quote(self.role, safe='')}:{quote(self.password, safe='')}"
        query = "&".join(
            filter(None, [parts.query, f"options={quote(_SEARCH_PATH, safe='')}"])
        )
        return urlunsplit(parts._replace(netloc=f"{login}@{host}", query=query))

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        """Open a connection to the run's database as its own role.

        Never as superuser: the run's role owns every table, view, function
        and trigger in it, and any of them can run code in the session that
        reads it, `RESET ROLE` included, so only a session whose login is the
        role itself gives that code nothing more than the shop already has.
        """
        return psycopg.connect(self.url(), autocommit=True)

    def connect_superuser(self) -> psycopg.Connection[tuple[Any, ...]]:
        """Open a superuser connection to the run's database (setup only)."""
        return psycopg.connect(database_url(self.name, libpq=True), autocommit=True)

    def query(
        self, query: LiteralString | sql.Composed, params: Sequence[object] = ()
    ) -> list[tuple[Any, ...]]:
        """Run one statement as the run's role in its database; return its rows."""
        with self.connect() as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description else []


_SEARCH_PATH = "-c search_path=pg_catalog,public"


def _maintenance() -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(database_url("postgres", libpq=True), autocommit=True)


def _process_start(pid: int) -> str:
    """Return the process's start time in clock ticks since boot, or ''."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def _owner_comment() -> str:
    pid = os.getpid()
    return f"course run: pid={pid} start={_process_start(pid)} host={_host()}"


def _host() -> str:
    return socket.gethostname()


def _owner_gone(comment: str | None) -> bool:
    """Return True if `comment` names a process of this host that has ended."""
    match = _OWNER.fullmatch(comment or "")
    if not match or match[3] != _host():
        # Made by hand, or by a grader on another machine sharing the server:
        # its liveness cannot be told from here.
        return False
    pid, start = int(match[1]), match[2]
    # A reused pid belongs to a process that started at another time.
    return not pid_alive(pid) or (bool(start) and _process_start(pid) != start)


def _others_fence(connection: psycopg.Connection[tuple[Any, ...]]) -> None:
    """Revoke PUBLIC's default CONNECT and TEMPORARY on every other database.

    PostgreSQL grants both to PUBLIC on each new database, `shop` and
    `postgres` included, so without this a run's role could log in to the
    instructor's data. Owners and superusers keep their access; on a server
    shared with other applications, grant their roles CONNECT explicitly.
    """
    connection.execute("SELECT pg_advisory_lock(%s)", [_FENCE_LOCK])
    try:
        names = connection.execute(
            "SELECT datname FROM pg_database WHERE datallowconn"
            " AND has_database_privilege('public', oid, 'CONNECT')"
        ).fetchall()
        for (name,) in names:
            _public_revoke(connection, name=name)
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", [_FENCE_LOCK])


def _public_revoke(
    connection: psycopg.Connection[tuple[Any, ...]], *, name: str
) -> None:
    revoke = sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
        sql.Identifier(name)
    )
    for attempt in range(3):
        try:
            connection.execute(revoke)
            return
        except psycopg.errors.InvalidCatalogName:
            return  # dropped meanwhile: nothing left to fence
        except psycopg.errors.InternalError_:
            # "tuple concurrently updated": another session (a test runner
            # creating or dropping its database) changed the row meanwhile.
            if attempt == 2:
                raise
            time.sleep(0.05)


def run_database_named(token: str) -> RunDatabase:
    """Return the names and password of run `token`'s role and database."""
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"token {token!r} must match {_TOKEN.pattern}")
    return RunDatabase(
        role=f"{PREFIX}{token}", password=secrets.token_hex(16), name=PREFIX + token
    )


def run_database_create(
    *,
    token: str | None = None,
    run: RunDatabase | None = None,
    template: str | None = None,
    connection_limit: int = CONNECTION_LIMIT,
    statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
    fence_others: bool = True,
) -> RunDatabase:
    """Create the role `course_run_<token>` and its database, fenced.

    Or create `run`, named beforehand by `run_database_named()` so that its
    URL can be handed out while it is being made.

    With `template`, the database is a copy of that one (which must have no
    open connections), and its tables, views, sequences and schemas are
    given to the run's role. `fence_others` also revokes PUBLIC's CONNECT on
    every other database of the server: what a grading machine wants, and
    more than a learner's own check needs (its shop is not hostile, and the
    proxy pins user and database anyway).
    """
    if run is None:
        if token is None:
            raise TypeError("run_database_create() needs a token or a run")
        run = run_database_named(token)
    role, database = sql.Identifier(run.role), sql.Identifier(run.name)
    comment = sql.Literal(_owner_comment())
    with _maintenance() as connection:
        if fence_others:
            _others_fence(connection)
        # One transaction, so a role never exists without the comment that
        # lets `leftovers_drop()` find its creator.
        with connection.transaction():
            connection.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB"
                    " NOCREATEROLE NOREPLICATION NOBYPASSRLS"
                    " CONNECTION LIMIT {}"
                ).format(role, sql.Literal(run.password), sql.Literal(connection_limit))
            )
            # A default the shop could lower itself; the harness's wall-clock
            # limit and the FORCE drop end what this does not.
            connection.execute(
                sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
                    role, sql.Literal(statement_timeout_ms)
                )
            )
            connection.execute(
                sql.SQL("COMMENT ON ROLE {} IS {}").format(role, comment)
            )
        # Closed until fenced: a new database lets PUBLIC connect, and a
        # session opened in that moment would outlive the REVOKE.
        create = sql.SQL("CREATE DATABASE {} OWNER {} ALLOW_CONNECTIONS false").format(
            database, role
        )
        if template:
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        try:
            connection.execute(create)
            for statement in (
                "COMMENT ON DATABASE {database} IS {comment}",
                "REVOKE ALL ON DATABASE {database} FROM PUBLIC",
                "GRANT CONNECT ON DATABASE {database} TO {role}",
                "ALTER DATABASE {database} ALLOW_CONNECTIONS true",
            ):
                connection.execute(
                    sql.SQL(statement).format(
                        database=database, comment=comment, role=role
                    )
                )
            if template:
                _objects_give(run)
        except BaseException:
            _names_drop(connection, name=run.name, role=run.role)
            raise
    return run


def _objects_give(run: RunDatabase) -> None:
    """Make the run's role own the schemas and relations copied from a template."""
    role = sql.Identifier(run.role)
    kinds = {"v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    with run.connect_superuser() as connection:
        for (schema,) in connection.execute(
            "SELECT nspname FROM pg_namespace"
            " WHERE nspname <> 'information_schema' AND nspname !~ '^pg_'"
        ).fetchall():
            connection.execute(
                sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                    sql.Identifier(schema), role
                )
            )
        # Tables first: moving a table also moves its indexes and the
        # sequences of its serial and identity columns, which refuse to be
        # moved on their own; so each relation is looked up again.
        for kind in ("r", "p", "f", "v", "m", "S"):
            for schema, name in connection.execute(
                _USER_RELATIONS + " AND c.relkind = %s AND c.relowner <> %s::regrole",
                [kind, run.role],
            ).fetchall():
                connection.execute(
                    sql.SQL("ALTER {} {} OWNER TO {}").format(
                        sql.SQL(kinds.get(kind, "TABLE")),
                        sql.Identifier(schema, name),
                        role,
                    )
                )


def _names_drop(
    connection: psycopg.Connection[tuple[Any, ...]], *, name: str, role: str
) -> None:
    exists = connection.execute(
        "SELECT 1 FROM pg_roles WHERE rolname = %s", [role]
    ).fetchone()
    if exists:
        # Refuse new logins first, so the shop cannot reconnect while the
        # database is being dropped.
        connection.execute(
            sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role))
        )
    connection.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    )
    if exists:
        connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        connection.execute(
            sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role))
        )


def run_database_drop(*, run: RunDatabase) -> None:
    """Drop the run's database (closing its connections) and its role."""
    with _maintenance() as connection:
        _names_drop(connection, name=run.name, role=run.role)


def leftovers_drop() -> list[str]:
    """Drop the run roles and databases whose creating process has ended.

    A grader killed mid-run leaves them behind. Only those made on this host
    by a process that is gone are dropped; return their names.
    """
    pattern = PREFIX.replace("_", r"\_") + "%"
    with _maintenance() as connection:
        found = connection.execute(
            "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles"
            " WHERE rolname LIKE %(p)s"
            " UNION ALL"
            # The role's comment comes first: the run's role owns its
            # database and could rewrite that comment, but not its own.
            " SELECT datname, shobj_description(oid, 'pg_database')"
            " FROM pg_database WHERE datname LIKE %(p)s"
            " AND datname NOT IN (SELECT rolname FROM pg_roles)",
            {"p": pattern},
        ).fetchall()
        dropped = sorted(name for name, comment in found if _owner_gone(comment))
        for name in dropped:
            _names_drop(connection, name=name, role=name)
    return dropped


def tables_truncate(
    *,
    run: RunDatabase,
    keep: Iterable[str] = KEPT_TABLES,
    lock_timeout_ms: int = 5_000,
    delete_below_bytes: int = DELETE_BELOW_BYTES,
) -> list[str]:
    """Empty every table of the run's database but `keep`; return their names.

    Their sequences restart. The lock timeout ends the wait when the shop
    holds a transaction open on one of them.
    """
    with run.connect() as connection, connection.transaction():
        tables = connection.execute(
            "SELECT c.oid, n.nspname, c.relname, pg_relation_size(c.oid)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
            " AND NOT (n.nspname = 'public' AND c.relname = ANY(%s))"
            " ORDER BY 2, 3",
            [list(keep)],
        ).fetchall()
        connection.execute(
            sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout_ms))
        )
        # The data is thrown away: a crash may lose this commit, not wait for it.
        connection.execute("SET LOCAL synchronous_commit = off")
        names = [sql.Identifier(schema, name) for _, schema, name, _ in tables]
        if sum(size for *_, size in tables) >= delete_below_bytes:
            connection.execute(
                sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                    sql.SQL(", ").join(names)
                )
            )
        elif tables:
            # TRUNCATE makes and removes a file per table and index, which
            # costs more than deleting a few pages of rows. Django's foreign
            # keys are checked at commit, when every table they join is empty.
            connection.execute("SET CONSTRAINTS ALL DEFERRED")
            for name in names:
                connection.execute(sql.SQL("DELETE FROM {}").format(name))
            connection.execute(
                "SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s"
                " JOIN pg_depend d ON d.objid = s.seqrelid"
                " AND d.classid = 'pg_class'::regclass"
                " AND d.refclassid = 'pg_class'::regclass"
                " WHERE d.deptype IN ('a', 'i') AND d.refobjid = ANY(%s)",
                [[oid for oid, *_ in tables]],
            )
    return [
        name if schema == "public" else f"{schema}.{name}"
        for _, schema, name, _ in tables
    ]


def stand_ins(*, run: RunDatabase) -> list[str]:
    """Return the relations of the shop's schema that could stand in for tables.

    Views, materialized views, foreign tables and tables under row security:
    the trusted side reads what they show, as the pages do, so rows they
    added or hid would agree with the pages and go unseen.
    """
    rows = run.query(
        "SELECT c.relname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public'"
        " AND (c.relkind IN ('v', 'm', 'f') OR c.relrowsecurity)"
        " ORDER BY 1"
    )
    return [str(name) for (name,) in rows]


def rows_count(*, run: RunDatabase, table: str) -> int:
    """Return how many rows `table` of the run's database holds."""
    rows = run.query(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    return int(rows[0][0])
