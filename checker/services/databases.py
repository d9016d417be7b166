"""Create and drop databases on the course's PostgreSQL server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checker.services.urls import database_url

if TYPE_CHECKING:
    import psycopg


def _maintenance() -> psycopg.Connection[tuple[object, ...]]:
    # Imported here: `course check` asks the server only whether it is up.
    import psycopg

    return psycopg.connect(database_url("postgres", libpq=True), autocommit=True)


def drop_database(name: str) -> None:
    """Drop the database `name` if it exists, closing its connections."""
    from psycopg import sql

    with _maintenance() as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


def create_database(name: str, *, fresh: bool = False) -> str:
    """Create the database `name` unless it exists; return its URL.

    With `fresh`, an existing database of that name is dropped first.
    """
    from psycopg import sql

    if fresh:
        drop_database(name)
    with _maintenance() as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not found:
            connection.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            )
    return database_url(name)
