"""Keep the shop's migrated, empty database per migration state, to copy from.

A learner's re-check would otherwise spend most of its time migrating a new
database. The first run with a set of migration files leaves its emptied
database behind as `course_tpl_<hash>`; later runs copy it
(`CREATE DATABASE ... TEMPLATE`) and skip `migrate`. Keeping one drops all
but the newest `TEMPLATES_KEPT`, so a learner who edits migrations again
and again does not fill the disk with copies. Only a learner's own
checks use templates: a graded run migrates a database of its own, so no
submission's migrations reach another's database.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import django
import psycopg
from psycopg import sql

from checker.harness.database import RunDatabase, tables_truncate
from checker.services.urls import database_url

__all__ = ["TEMPLATES_KEPT", "TEMPLATE_PREFIX", "template_for", "template_keep"]

TEMPLATE_PREFIX = "course_tpl_"
# A lesson's start and end for several lessons (an empty one is ~8 MB):
# going back further migrates again.
TEMPLATES_KEPT = 8


def _maintenance() -> psycopg.Connection[tuple[()]]:
    return psycopg.connect(database_url("postgres", libpq=True), autocommit=True)


def template_for(root: Path) -> tuple[str, bool]:
    """Return the template's name for the shop at `root`, and whether it exists."""
    digest = hashlib.sha1(django.get_version().encode())
    shop = root / "shop_app"
    for path in sorted(shop.glob("**/migrations/*.py")):
        digest.update(str(path.relative_to(shop)).encode() + b"\0")
        digest.update(path.read_bytes())
    name = TEMPLATE_PREFIX + digest.hexdigest()[:16]
    with _maintenance() as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
    return name, found is not None


def template_keep(run: RunDatabase, name: str) -> None:
    """Empty the run's database and keep a copy of it as the template `name`.

    The run's processes must have ended: a database with open connections
    cannot be copied. A copy another check made first is left as it is.
    """
    tables_truncate(run=run)
    with _maintenance() as connection:
        try:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(run.name)
                )
            )
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.ObjectInUse):
            return
        _templates_prune(connection)
    # The run's role is dropped with the run: the copy's objects move to the
    # superuser, and each later run's role is given them again.
    url = database_url(name, libpq=True)
    with psycopg.connect(url, autocommit=True) as copy:
        copy.execute(
            sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(
                sql.Identifier(run.role)
            )
        )
    with _maintenance() as connection, contextlib.suppress(psycopg.Error):
        connection.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                sql.Identifier(name)
            )
        )


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
