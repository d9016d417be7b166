"""Bulk-load rows into PostgreSQL with COPY, through psycopg 3."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import Cursor, sql

from seeding.rows import Row

# Reporting progress per row would cost more than writing the row.
PROGRESS_EVERY = 5_000


def tables_truncate(cursor: Cursor[Any], *, tables: Sequence[str]) -> None:
    """Empty `tables` and restart their id sequences, cascading to dependents."""
    names = sql.SQL(", ").join(sql.Identifier(table) for table in tables)
    cursor.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names))


def rows_copy(
    cursor: Cursor[Any],
    *,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Row],
    on_progress: Callable[[int], None],
) -> int:
    """COPY `rows` into `table`, calling `on_progress(n)` every few thousand rows."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(column) for column in columns),
    )
    written = 0
    with cursor.copy(statement) as copy:
        for written, row in enumerate(rows, start=1):
            copy.write_row(row)
            if written % PROGRESS_EVERY == 0:
                on_progress(PROGRESS_EVERY)
    on_progress(written % PROGRESS_EVERY)
    return written


def sequence_reset(cursor: Cursor[Any], *, table: str) -> None:
    """Move the id sequence of `table` past the ids that COPY wrote explicitly."""
    cursor.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), "
            "coalesce(max(id), 1), max(id) IS NOT NULL) FROM {}"
        ).format(sql.Identifier(table)),
        [table],
    )


def tables_analyze(cursor: Cursor[Any], *, tables: Sequence[str]) -> None:
    """Refresh the planner statistics of `tables` after a bulk load."""
    names = sql.SQL(", ").join(sql.Identifier(table) for table in tables)
    cursor.execute(sql.SQL("ANALYZE {}").format(names))


def constraints_check(cursor: Cursor[Any]) -> None:
    """Run the deferred foreign key checks now, then defer them again.

    Django creates foreign keys DEFERRABLE INITIALLY DEFERRED, and TRUNCATE and
    ALTER TABLE refuse a table with checks still pending, as they are after
    writes earlier in a transaction that has not committed yet (a test).
    """
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key constraint as PostgreSQL reports it, enough to recreate it."""

    table: str
    name: str
    definition: str


def foreign_keys_drop(
    cursor: Cursor[Any], *, tables: Sequence[str]
) -> list[ForeignKey]:
    """Drop the foreign keys of `tables` and return them for foreign_keys_add.

    A foreign key queues one check per loaded row; adding it back afterwards
    checks all the rows in one join, several times faster on a large load.
    """
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE contype = 'f'"
        " AND conrelid = ANY(%s::text[]::regclass[]) ORDER BY conrelid, conname",
        [list(tables)],
    )
    keys = [ForeignKey(*row) for row in cursor.fetchall()]
    for key in keys:
        cursor.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(key.table), sql.Identifier(key.name)
            )
        )
    return keys


def foreign_keys_add(cursor: Cursor[Any], *, keys: Sequence[ForeignKey]) -> None:
    """Recreate the foreign keys `keys`, checking every existing row against them."""
    for key in keys:
        cursor.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(key.table),
                sql.Identifier(key.name),
                sql.SQL(key.definition),
            )
        )


def indexes_drop(cursor: Cursor[Any], *, tables: Sequence[str]) -> list[str]:
    """Drop the indexes of `tables` that back no constraint; return their DDL.

    Building an index once over loaded rows is faster than updating it for
    every row, so the loader drops them first and indexes_create rebuilds them.
    """
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
        " FROM pg_index i WHERE i.indrelid = ANY(%s::text[]::regclass[])"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
        " WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))"
        " ORDER BY 1",
        [list(tables)],
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [definition for _, definition in indexes]


def indexes_create(cursor: Cursor[Any], *, definitions: Sequence[str]) -> None:
    """Run the CREATE INDEX statements that indexes_drop returned."""
    for definition in definitions:
        cursor.execute(sql.SQL(definition))
