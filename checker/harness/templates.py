"""Keep the shop's migrated, empty database per migration state, to copy from.

A learner's re-check would otherwise spend most of its time migrating a new
database. The first run with a set of migration files leaves its emptied
database behind as `course_tpl_<hash>`; later runs copy it
(`CREATE DATABASE ... TEMPLATE`) and skip `migrate`. Keeping one drops all
but the newest `TEMPLATES_KEPT`, so a learner who edits migrations again
and again does not fill the disk with copies. Only a learner's own
checks use templates: a graded run migrates a database of its own, so no
submission's migrations reach another's database.

A template also keeps the statements PostgreSQL received while the
migrations ran (lesson 7 grades how an index was built from them), as the
comment of its database: only a superuser or the database's owner can change
it, and it goes with the template when the template is dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import django
import psycopg
from psycopg import sql

from checker.harness.database import RunDatabase, _maintenance, tables_truncate
from checker.services.urls import database_url

__all__ = [
    "TEMPLATES_KEPT",
    "TEMPLATE_PREFIX",
    "template_for",
    "template_keep",
    "template_statements",
]

TEMPLATE_PREFIX = "course_tpl_"
# A lesson's start and end for several lessons (an empty one is ~8 MB):
# going back further migrates again.
TEMPLATES_KEPT = 8
# Part of every template's name: a template made before templates kept their
# migration statements has none, and is never copied again.
_FORMAT = b"statements-1"


def template_for(root: Path) -> tuple[str, bool]:
    """Return the template's name for the shop at `root`, and whether it exists."""
    digest = hashlib.sha1(django.get_version().encode() + _FORMAT)
    shop = root / "shop_app"
    for path in sorted(shop.glob("**/migrations/*.py")):
        digest.update(str(path.relative_to(shop)).encode() + b"\0")
        digest.update(path.read_bytes())
    name = TEMPLATE_PREFIX + digest.hexdigest()[:16]
    # A template is ready once its statements are kept with it.
    return name, _kept(name) is not None


def _kept(name: str) -> str | None:
    """Return the comment of template `name`: its statements, as JSON."""
    with _maintenance() as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname = %s",
            [name],
        ).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def template_statements(name: str) -> list[tuple[int, str]]:
    """Return the statements the migrations of template `name` sent, in order.

    Each comes with the number of the connection that sent it.
    """
    kept: list[list[Any]] = json.loads(_kept(name) or "[]")
    return [(int(number), str(text)) for number, text in kept]


def template_keep(
    run: RunDatabase, name: str, statements: list[tuple[int, str]]
) -> None:
    """Empty the run's database and keep a copy of it as the template `name`.

    `statements` are what the run's migrations sent, kept with the copy. The
    run's processes must have ended: a database with open connections cannot
    be copied. A copy another check made first is left as it is.
    """
    tables_truncate(run=run)
    with _maintenance() as connection:
        try:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(run.name)
                )
            )
        # Two checks that make the same template at once: the second finds
        # the name taken, or loses the race on pg_database's unique index.
        except (
            psycopg.errors.DuplicateDatabase,
            psycopg.errors.UniqueViolation,
            psycopg.errors.ObjectInUse,
        ):
            return
    # The run's role is dropped with the run: the copy's objects move to the
    # superuser, and each later run's role is given them again.
    url = database_url(name, libpq=True)
    with psycopg.connect(url, autocommit=True) as copy:
        copy.execute(
            sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(
                sql.Identifier(run.role)
            )
        )
    with _maintenance() as connection:
        with contextlib.suppress(psycopg.Error):
            connection.execute(
                sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                    sql.Identifier(name)
                )
            )
        # Last: the statements mark the template ready for others to copy.
        connection.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(statements))
            )
        )
        _templates_prune(connection)


def _templates_prune(connection: psycopg.Connection[Any]) -> None:
    """Drop all but the newest `TEMPLATES_KEPT` templates (by their oid)."""
    pattern = TEMPLATE_PREFIX.replace("_", r"\_") + "%"
    names = connection.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY oid DESC",
        [pattern],
    ).fetchall()
    for (name,) in names[TEMPLATES_KEPT:]:
        # One another check is copying stays; the next keep drops it.
        with contextlib.suppress(psycopg.errors.ObjectInUse):
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
            )
