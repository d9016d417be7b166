"""Each run's role reaches its own database and nothing else, on a real server."""

import os
import secrets
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from checker.harness.database import (
    RunDatabase,
    leftovers_drop,
    rows_count,
    run_database_create,
    run_database_drop,
    stand_ins,
    tables_truncate,
)
from checker.services import create_database, drop_database
from checker.services.urls import database_url

ROOT = Path(__file__).resolve().parents[2]


def _token() -> str:
    # Other checkouts may grade on the same server at the same time.
    return f"t{secrets.token_hex(4)}"


def _params(name: str) -> dict[str, object]:
    return conninfo_to_dict(database_url(name, libpq=True))


def _connect_as(run: RunDatabase, name: str) -> psycopg.Connection:
    params = {**_params(name), "user": run.role, "password": run.password}
    return psycopg.connect(**params, autocommit=True, connect_timeout=5)


def _exists(table: str, column: str, name: str) -> bool:
    with psycopg.connect(database_url("postgres", libpq=True)) as connection:
        # Only names from this module are formatted in.
        query = f"SELECT 1 FROM {table} WHERE {column} = %s"
        return connection.execute(query, [name]).fetchone() is not None


@pytest.fixture
def run():
    created = run_database_create(token=_token())
    yield created
    run_database_drop(run=created)


@pytest.fixture
def other():
    created = run_database_create(token=_token())
    yield created
    run_database_drop(run=created)


def test_the_role_is_an_ordinary_login_with_a_statement_timeout(run):
    [row] = run.query(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication,"
        " rolbypassrls, rolcanlogin, rolconnlimit, rolconfig"
        " FROM pg_roles WHERE rolname = %s",
        [run.role],
    )
    with _connect_as(run, run.name) as connection:
        seen = connection.execute(
            "SELECT current_user, current_setting('is_superuser'),"
            " current_setting('statement_timeout')"
        ).fetchone()

    assert row == (
        False,
        False,
        False,
        False,
        False,
        True,
        20,
        ["statement_timeout=30000"],
    )
    assert seen == (run.role, "off", "30s")
    assert run.role == run.name


def test_the_role_creates_tables_in_its_own_database(run):
    with _connect_as(run, run.name) as connection:
        connection.execute("CREATE TABLE note (id serial PRIMARY KEY, body text)")
        connection.execute("INSERT INTO note (body) VALUES ('hello')")

    assert rows_count(run=run, table="note") == 1
    assert run.query("SELECT tableowner FROM pg_tables WHERE tablename = 'note'") == [
        (run.role,)
    ]


def test_tables_of_the_shop_s_own_are_no_stand_ins(run):
    with _connect_as(run, run.name) as connection:
        connection.execute("CREATE TABLE note (id serial PRIMARY KEY, body text)")

    assert stand_ins(run=run) == []


@pytest.mark.parametrize(
    "made",
    [
        "CREATE VIEW note_all AS SELECT * FROM note UNION ALL SELECT -1, 'x'",
        "CREATE MATERIALIZED VIEW note_all AS SELECT * FROM note",
        "ALTER TABLE note ENABLE ROW LEVEL SECURITY",
    ],
)
def test_views_and_row_security_in_front_of_the_tables_are_stand_ins(run, made):
    with _connect_as(run, run.name) as connection:
        connection.execute("CREATE TABLE note (id serial PRIMARY KEY, body text)")
        connection.execute(made)

    assert stand_ins(run=run) == ["note_all" if "VIEW" in made else "note"]


@pytest.fixture
def instructor_database():
    """Yield the database DATABASE_URL names, made for the test if missing."""
    name = conninfo_to_dict(database_url("shop", libpq=True))["dbname"]
    made = not _exists("pg_database", "datname", name)
    create_database(name)
    yield name
    if made:
        drop_database(name)


@pytest.mark.parametrize("target", ["other run", "instructor", "postgres"])
def test_the_role_is_refused_every_other_database(instructor_database, target, other):
    # Created after the instructor's database, as the grader would be.
    run = run_database_create(token=_token())
    name = {"other run": other.name, "instructor": instructor_database}.get(
        target, target
    )

    try:
        with pytest.raises(psycopg.OperationalError) as excinfo:
            _connect_as(run, name)
    finally:
        run_database_drop(run=run)

    assert f'FATAL:  permission denied for database "{name}"\n' in str(excinfo.value)
    assert "DETAIL:  User does not have CONNECT privilege." in str(excinfo.value)


# The text each server version gives: PostgreSQL 15, then 16 and later.
@pytest.mark.parametrize(
    ("statement", "messages"),
    [
        ("DROP DATABASE {other}", ["must be owner of database {other}"] * 2),
        (
            "CREATE ROLE intruder",
            [
                "permission denied to create role",
                "permission denied to create role\nDETAIL:  Only roles with the"
                " CREATEROLE attribute may create roles.",
            ],
        ),
        ("CREATE DATABASE intruder", ["permission denied to create database"] * 2),
        (
            "ALTER ROLE {role} SUPERUSER",
            [
                "must be superuser to alter superuser roles or change superuser"
                " attribute",
                "permission denied to alter role\nDETAIL:  Only roles with the"
                " SUPERUSER attribute may change the SUPERUSER attribute.",
            ],
        ),
        (
            "COMMENT ON ROLE {role} IS 'pid=1'",
            [
                "must have CREATEROLE privilege",
                "permission denied\nDETAIL:  The current user must have the"
                " CREATEROLE attribute.",
            ],
        ),
    ],
)
def test_the_role_cannot_touch_other_databases_or_roles(
    run, other, statement, messages
):
    names = {"other": other.name, "role": run.role}

    with (
        _connect_as(run, run.name) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as excinfo,
    ):
        version = connection.info.server_version // 10000
        connection.execute(statement.format(**names))

    expected = messages[0 if version <= 15 else 1]
    assert str(excinfo.value) == expected.format(**names)
    assert _exists("pg_database", "datname", other.name)


def test_a_runaway_query_ends_at_the_role_statement_timeout():
    run = run_database_create(token=_token(), statement_timeout_ms=100)
    try:
        with (
            _connect_as(run, run.name) as connection,
            pytest.raises(psycopg.errors.QueryCanceled) as excinfo,
        ):
            connection.execute("SELECT pg_sleep(5)")
    finally:
        run_database_drop(run=run)

    assert str(excinfo.value) == "canceling statement due to statement timeout"


def test_one_connection_beyond_the_limit_is_refused():
    run = run_database_create(token=_token(), connection_limit=1)
    try:
        with _connect_as(run, run.name), pytest.raises(psycopg.OperationalError) as e:
            _connect_as(run, run.name)
    finally:
        run_database_drop(run=run)

    assert f'too many connections for role "{run.role}"' in str(e.value)


def test_dropping_removes_the_database_and_role_even_while_connected():
    run = run_database_create(token=_token())
    connection = _connect_as(run, run.name)

    run_database_drop(run=run)
    run_database_drop(run=run)

    connection.close()
    assert not _exists("pg_database", "datname", run.name)
    assert not _exists("pg_roles", "rolname", run.role)


def test_the_shop_url_names_the_role_and_the_proxy_folder():
    run = RunDatabase(role="course_run_ab", password="p/w", name="course_run_ab")

    assert run.shop_url(folder=Path("/tmp/run 1/pg")) == (
        "postgres://course_run_ab:p%2Fw@/course_run_ab?host=/tmp/run%201/pg"
    )


def test_a_copy_of_a_template_belongs_to_the_run_role():
    template = f"course_template_{_token()}"
    create_database(template)
    with psycopg.connect(database_url(template, libpq=True)) as connection:
        connection.execute(
            "CREATE SCHEMA extra;"
            "CREATE TABLE item (id bigint GENERATED BY DEFAULT AS IDENTITY"
            " PRIMARY KEY, name text);"
            "CREATE TABLE extra.tag (id serial PRIMARY KEY);"
            "CREATE SEQUENCE loose;"
            "CREATE VIEW item_names AS SELECT name FROM item;"
            "INSERT INTO item (name) VALUES ('a'), ('b');"
        )
    try:
        run = run_database_create(token=_token(), template=template)
        try:
            with _connect_as(run, run.name) as connection:
                connection.execute("INSERT INTO item (name) VALUES ('c')")
                connection.execute("INSERT INTO extra.tag DEFAULT VALUES")
                connection.execute("SELECT nextval('loose')")
                names = connection.execute("SELECT * FROM item_names").fetchall()
            owners = run.query(
                "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname IN ('public', 'extra')"
            )
        finally:
            run_database_drop(run=run)
    finally:
        drop_database(template)

    assert names == [("a",), ("b",), ("c",)]
    assert owners == [(run.role,)]


def test_parallel_runs_are_created_at_once():
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: run_database_create(token=_token()), range(4)))
    for created in runs:
        run_database_drop(run=created)

    assert len({created.name for created in runs}) == 4


def test_leftovers_of_an_ended_process_are_dropped_and_a_live_ones_kept(run):
    dead = f"{_token()}_dead"
    script = textwrap.dedent(
        f"""
        from checker.harness.database import run_database_create
        run_database_create(token={dead!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)

    dropped = leftovers_drop()

    assert f"course_run_{dead}" in dropped
    assert run.name not in dropped
    assert not _exists("pg_database", "datname", f"course_run_{dead}")
    assert not _exists("pg_roles", "rolname", f"course_run_{dead}")
    assert _exists("pg_database", "datname", run.name)


@pytest.fixture(scope="module")
def shop_run():
    """Yield a run database holding the migrated, seeded shop."""
    created = run_database_create(token=_token())
    host = _params(created.name).get("host") or "/tmp"
    env = {
        **os.environ,
        "DATABASE_URL": created.shop_url(folder=str(host)),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    manage = [sys.executable, "shop_app/manage.py"]
    try:
        # Migrated as the run's role itself: it needs no more than it has.
        subprocess.run(
            [*manage, "migrate", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        yield created, [*manage, "seed_shop", "--scale", "tiny", "-v0"], env
    finally:
        run_database_drop(run=created)


@pytest.mark.parametrize("way", ["DELETE", "TRUNCATE"])
def test_truncation_empties_the_shop_but_keeps_what_its_process_caches(shop_run, way):
    shop_run, seed, env = shop_run
    subprocess.run(seed, cwd=ROOT, env=env, check=True, capture_output=True)
    kept = ("django_migrations", "django_content_type", "auth_permission")
    before = {table: rows_count(run=shop_run, table=table) for table in kept}
    products = rows_count(run=shop_run, table="catalog_product")

    started = time.perf_counter()
    emptied = tables_truncate(
        run=shop_run, delete_below_bytes=10**12 if way == "DELETE" else 0
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"emptied {len(emptied)} tables with {way} in {elapsed_ms:.0f} ms")

    assert products > 0
    assert "catalog_product" in emptied
    assert not set(kept) & set(emptied)
    assert all(rows_count(run=shop_run, table=table) == 0 for table in emptied)
    assert {table: rows_count(run=shop_run, table=table) for table in kept} == before
    [(next_id,)] = shop_run.query(
        "INSERT INTO catalog_tag (name, slug) VALUES ('t', 't') RETURNING id"
    )
    assert next_id == 1


def test_a_failed_create_leaves_no_role_behind():
    token = _token()

    with pytest.raises(psycopg.errors.InvalidCatalogName) as excinfo:
        run_database_create(token=token, template="course_no_such_template")

    assert str(excinfo.value) == (
        'template database "course_no_such_template" does not exist'
    )
    assert not _exists("pg_roles", "rolname", f"course_run_{token}")
