"""The embedded server's contrib modules: preloaded, switched off, or trusted."""

import secrets
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from checker.harness.database import run_database_create, run_database_drop
from checker.services.layout import Layout
from checker.services.postgres import EmbeddedPostgres


@pytest.fixture(scope="module")
def server():
    """Yield one embedded PostgreSQL for the module; stop and remove it after."""
    home = Path(tempfile.mkdtemp(prefix="course-services-"))
    postgres = EmbeddedPostgres(Layout(home))
    postgres.start()
    yield postgres
    postgres.stop()
    shutil.rmtree(home, ignore_errors=True)


def _connect(server, dbname="shop"):
    return psycopg.connect(
        host=str(server.layout.run), user="postgres", dbname=dbname, autocommit=True
    )


def _log_after(server, offset):
    return server.log.read_text(errors="replace")[offset:]


def test_pg_stat_statements_and_auto_explain_are_preloaded(server):
    with _connect(server) as connection:
        preloaded = connection.execute("SHOW shared_preload_libraries").fetchone()
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        connection.execute("SELECT 'course marker', 41 + 1")
        rows = connection.execute(
            "SELECT calls FROM pg_stat_statements WHERE query LIKE %s",
            ["SELECT $1, $2 + $3"],
        ).fetchall()

    assert preloaded == ("pg_stat_statements,auto_explain",)
    assert rows == [(1,)]


def test_auto_explain_logs_no_plan_until_a_session_switches_it_on(server):
    with _connect(server) as connection:
        offset = len(server.log.read_text(errors="replace"))
        connection.execute("SELECT count(*) FROM pg_class WHERE relname = 'off'")
        quiet = _log_after(server, offset)
        connection.execute("SET auto_explain.log_min_duration = 0")
        connection.execute("SELECT count(*) FROM pg_class WHERE relname = 'on'")

    logged = _log_after(server, offset)
    assert "relname = 'off'" not in quiet
    assert "plan:" not in quiet
    assert (
        "  plan:\n\tQuery Text: SELECT count(*) FROM pg_class WHERE relname = 'on'"
        "\n\tAggregate  (cost="
    ) in logged


def test_a_run_role_that_owns_its_database_can_create_pg_trgm(server, monkeypatch):
    monkeypatch.setenv("COURSE_HOME", str(server.layout.home))
    run = run_database_create(token=f"t{secrets.token_hex(4)}", fence_others=False)
    try:
        with run.connect() as connection:
            superuser = connection.execute("SHOW is_superuser").fetchone()
            connection.execute("CREATE EXTENSION pg_trgm SCHEMA public")
            similarity = connection.execute(
                "SELECT public.similarity('lamp', 'lamps') > 0.5"
            ).fetchone()
            connection.execute("CREATE TABLE public.item (name text)")
            connection.execute(
                "CREATE INDEX item_name_trgm ON public.item"
                " USING gin (name public.gin_trgm_ops)"
            )
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
                connection.execute("CREATE EXTENSION pg_stat_statements")
    finally:
        run_database_drop(run=run)

    assert superuser == ("off",)
    assert similarity == (True,)
    assert str(refused.value).startswith(
        'permission denied to create extension "pg_stat_statements"'
    )


def test_an_extension_the_server_does_not_ship_fails_with_a_clear_error(server):
    with (
        _connect(server) as connection,
        pytest.raises(psycopg.errors.FeatureNotSupported) as raised,
    ):
        connection.execute("CREATE EXTENSION postgis")

    assert str(raised.value).startswith('extension "postgis" is not available')
    assert raised.value.diag.message_hint == (
        "The extension must first be installed on the system where PostgreSQL "
        "is running."
    )
