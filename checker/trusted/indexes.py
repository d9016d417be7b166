"""A table's indexes as the catalog holds them, and how the migrations built them.

Which indexes exist, and their key columns, come from `pg_index` on the
trusted connection. How each was built comes from the statements PostgreSQL
received while the checker ran the shop's migrations (`ShopRun.
migration_statements`, read off the wire by the run's proxy), never from the
migration files: a `CREATE INDEX` without `CONCURRENTLY`, sent after the
transaction that created its table, blocked every write to that table while
it ran, whatever the file says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlparse

from checker import sql

__all__ = ["IndexBuild", "TableIndex", "index_builds", "table_indexes"]

_INDEXES = (
    "SELECT i.relname, pg_get_indexdef(i.oid), x.indisunique,"
    " x.indpred IS NOT NULL OR x.indexprs IS NOT NULL,"
    " array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)"
    "  JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum"
    "  WHERE k.n <= x.indnkeyatts ORDER BY k.n)"
    " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
    " JOIN pg_class t ON t.oid = x.indrelid"
    " JOIN pg_namespace n ON n.oid = t.relnamespace"
    " WHERE n.nspname = 'public' AND t.relname = %s ORDER BY i.relname"
)
_NAME = r'(?:"?public"?\.)?"?(?P<{}>[^"\s(]+)"?'
_CREATE_INDEX = re.compile(
    r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?P<concurrently>CONCURRENTLY\s+)?"
    r"(?:IF\s+NOT\s+EXISTS\s+)?"
    + _NAME.format("index")
    + r"\s+ON\s+(?:ONLY\s+)?"
    + _NAME.format("table"),
    re.IGNORECASE,
)
_CREATE_TABLE = re.compile(
    r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _NAME.format("table"),
    re.IGNORECASE,
)
_OPENS = re.compile(r"^(?:BEGIN|START\s+TRANSACTION)\b", re.IGNORECASE)
_CLOSES = re.compile(r"^(?:COMMIT|END|ROLLBACK|ABORT)\b(?!\s+(?:TO|PREPARED)\b)", re.I)
# Django records each applied migration once its operations have run.
_APPLIED = re.compile(
    r"""^INSERT\s+INTO\s+"django_migrations"\s.*?VALUES\s*\(\s*'(?P<app>[^']*)'"""
    r"""\s*,\s*'(?P<name>[^']*)'""",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class TableIndex:
    """One index of a table: its name, definition and key columns, in order."""

    name: str
    definition: str
    unique: bool
    # Partial (WHERE ...) or on an expression: it cannot stand in for another.
    special: bool
    keys: tuple[str, ...]


def table_indexes(connection: Any, table: str) -> list[TableIndex]:
    """Return the indexes of `table` in the public schema, by name."""
    return [
        TableIndex(name, definition, unique, special, tuple(keys))
        for name, definition, unique, special, keys in connection.execute(
            _INDEXES, [table]
        ).fetchall()
    ]


@dataclass(frozen=True)
class IndexBuild:
    """One CREATE INDEX that PostgreSQL received while the migrations ran."""

    index: str
    table: str
    sql: str
    concurrently: bool
    # Sent inside a transaction block, where CONCURRENTLY is refused.
    in_transaction: bool
    # Sent in the transaction that created its table: no row to lock yet.
    with_table: bool
    # The migration that sent it, "app.name", or "" when none was recorded.
    migration: str

    @property
    def blocks_writes(self) -> bool:
        """Tell whether the build held a lock that blocks the table's writes."""
        return not self.concurrently and not self.with_table

    @property
    def where(self) -> str:
        """Name the migration file that sent it, or say that none did."""
        app, _, name = self.migration.partition(".")
        if not name:
            return "a statement of no recorded migration"
        return f"shop_app/{app}/migrations/{name}.py"

    @property
    def short(self) -> str:
        return sql.shorten(self.sql)


def index_builds(statements: Sequence[tuple[int, str]]) -> list[IndexBuild]:
    """Return every CREATE INDEX in `statements`, each (connection, text).

    A text may hold several statements; each is read on its own. Each
    connection's transaction blocks are followed, so a build knows whether it
    ran in one, and in the one that created its table.
    """
    transaction: dict[int, int | None] = {}
    created: dict[str, tuple[int, int | None]] = {}
    found: list[IndexBuild] = []
    pending: list[IndexBuild] = []
    blocks = 0
    for connection, text in statements:
        for statement in sqlparse.split(text):
            statement = statement.strip().rstrip(";").strip()
            current = transaction.get(connection)
            if _OPENS.match(statement):
                blocks += 1
                transaction[connection] = blocks
            elif _CLOSES.match(statement):
                transaction[connection] = None
            elif table := _CREATE_TABLE.match(statement):
                created[table["table"]] = (connection, current)
            elif index := _CREATE_INDEX.match(statement):
                where = created.get(index["table"])
                pending.append(
                    IndexBuild(
                        index=index["index"],
                        table=index["table"],
                        sql=statement,
                        concurrently=bool(index["concurrently"]),
                        in_transaction=current is not None,
                        with_table=current is not None
                        and where == (connection, current),
                        migration="",
                    )
                )
            elif applied := _APPLIED.match(statement):
                migration = f"{applied['app']}.{applied['name']}"
                found += [replace(build, migration=migration) for build in pending]
                pending = []
    return found + pending
