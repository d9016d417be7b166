"""pg_stat_statements is read for one role and database, from the postgres database."""

import psycopg
import pytest

from checker.harness.statements import statements_read, statements_reset
from checker.services import create_database, database_url, drop_database


@pytest.fixture
def databases():
    names = ["statements_counted", "statements_other"]
    for name in names:
        create_database(name, fresh=True)
    yield names
    for name in names:
        drop_database(name)


def _role():
    with psycopg.connect(database_url("postgres", libpq=True)) as c:
        return c.execute("SELECT current_user").fetchone()[0]


def _run(name, query, times):
    with psycopg.connect(database_url(name, libpq=True), autocommit=True) as c:
        for _ in range(times):
            c.execute(query).fetchall()


def test_the_statements_of_the_run_s_database_are_counted_most_buffers_first(
    databases,
):
    counted, other = databases
    statements_reset(_role(), counted)
    _run(counted, "SELECT /* counted */ count(*) FROM pg_class", 3)
    _run(counted, "SELECT /* cheap */ 1", 5)
    _run(other, "SELECT /* elsewhere */ count(*) FROM pg_class", 2)

    found = statements_read(_role(), counted)

    mine = [s for s in found if "counted" in s.query]
    assert [(s.calls, s.rows) for s in mine] == [(3, 3)]
    assert mine[0].buffers > 0
    assert found.index(mine[0]) < next(
        i for i, s in enumerate(found) if "cheap" in s.query
    )
    assert not any("elsewhere" in s.query for s in found)


def test_a_reset_forgets_what_was_counted_before(databases):
    counted, _ = databases
    _run(counted, "SELECT /* before the reset */ 1", 2)

    statements_reset(_role(), counted)

    assert not any(
        "before the reset" in s.query for s in statements_read(_role(), counted)
    )
