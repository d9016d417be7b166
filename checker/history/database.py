"""Bring the shop's database to a lesson's tree: back up, migrate, reseed, flush."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console

from checker.services.layout import Layout
from checker.services.postgres import bundled_program
from checker.services.urls import service_urls


class DatabaseError(Exception):
    """The database could not be backed up or brought to the lesson."""


def postgres_tool(name: str) -> str:
    """Return the path of a PostgreSQL client program, the embedded one first."""
    # The embedded server's own tools match its version; system ones older
    # than the server refuse to dump it or to read its dumps.
    bundled = bundled_program(name)
    if bundled is not None:
        return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise DatabaseError(
            f"{name} is not installed, so the database cannot be backed up before"
            " it is replaced. Install the PostgreSQL client tools, or run course"
            " goto with --no-database to switch the files only."
        )
    return found


def backup_database(layout: Layout) -> Path:
    """Dump the shop's database to `.course/backups/` and return the file."""
    url = urlsplit(service_urls(layout).database)
    name = url.path.lstrip("/")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    target = layout.home / "backups" / f"{stamp}-database.dump"
    target.parent.mkdir(parents=True, exist_ok=True)
    # libpq reads the same URL, socket folder (`?host=`) included.
    dsn = url._replace(scheme="postgresql").geturl()
    done = subprocess.run(
        [
            postgres_tool("pg_dump"),
            "--format=custom",
            "--file",
            str(target),
            "--dbname",
            dsn,
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        raise DatabaseError(
            f"Could not back up the database {name!r} before replacing"
            f" its data: {done.stderr.strip()}\nNothing was changed. Start the"
            " services with `course services up`, or run course goto with"
            " --no-database to switch the files only."
        )
    return target


def _migrations_not_on_disk() -> list[str]:
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection, ignore_no_migrations=True)
    return sorted(
        f"{app}.{name}"
        for app, name in loader.applied_migrations
        if (app, name) not in loader.disk_migrations
    )


def _drop_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in connection.introspection.get_table_list(cursor):
            kind = "VIEW" if table.type == "v" else "TABLE"
            name = connection.ops.quote_name(table.name)
            cursor.execute(f"DROP {kind} IF EXISTS {name} CASCADE")


def _flush_cache() -> None:
    from django.core.cache import caches

    for alias in caches:
        cache = caches[alias]
        # django-redis deletes only this shop's keys; clear() would empty the
        # whole Redis database, other prefixes included.
        delete_pattern = getattr(cache, "delete_pattern", None)
        if delete_pattern is not None:
            delete_pattern("*")
        else:
            cache.clear()


def bring_database(
    *, scale: str, seed_value: int, console: Console, layout: Layout
) -> list[str]:
    """Migrate the database to the checked-out tree, reseed it and flush caches."""
    from django.core.management import call_command

    from checker.course.start import seed
    from checker.django_env import setup_django

    setup_django()
    done = []
    missing = _migrations_not_on_disk()
    if missing:
        # Unapplying needs the later migrations' files, which this tree lacks;
        # the data is replaced by the seed anyway, so start the schema afresh.
        _drop_tables()
        done.append(
            f"Reset the schema: it held migrations this lesson does not have"
            f" ({', '.join(missing)})."
        )
    call_command("migrate", interactive=False, verbosity=0)
    done.append("Migrated the database to this lesson.")
    # seed_shop prints progress bars and a table; the summary line is enough.
    with contextlib.redirect_stdout(io.StringIO()):
        seed(scale=scale, seed=seed_value, console=console, layout=layout)
    done.append(f"Seeded the {scale} data set.")
    _flush_cache()
    done.append("Flushed the cache.")
    return done
