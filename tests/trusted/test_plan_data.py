"""Lesson 7's plan-sized data checks its foreign keys once per fill, or row by row."""

import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from checker.harness.database import run_database_create, run_database_drop
from checker.queries import CapturedQuery
from checker.services import create_database, drop_database
from checker.services.urls import database_url
from checker.trusted import plan_data
from checker.trusted.explained import explain_received
from checker.trusted.plan_data import KEYS_ONCE, TABLES, catalog_fill, orders_fill

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def migrated():
    """Return a database with the course's shop migrated into it, to copy from."""
    name = f"plan_data_{secrets.token_hex(4)}"
    url = create_database(name, fresh=True)
    subprocess.run(
        [sys.executable, "shop_app/manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": url,
            "PYTHONPATH": str(ROOT / "shop_app"),
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
        },
        check=True,
    )
    yield name
    drop_database(name)


def _run_made(template):
    """Return a run's role and database made from `template`, as grading does."""
    return run_database_create(
        token=f"t{secrets.token_hex(4)}", template=template, fence_others=False
    )


@pytest.fixture
def run(migrated):
    """Return a run's role and database made from the migrated shop."""
    made = _run_made(migrated)
    yield made
    run_database_drop(run=made)


def _keys(connection):
    return connection.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE contype = 'f' ORDER BY 1, 2"
    ).fetchall()


def _digests(connection):
    return {
        table: connection.execute(
            "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t.id))"
            f" FROM {table} t"
        ).fetchone()
        for table in TABLES
    }


def _fill(connection, *, keys_once=True):
    return [
        catalog_fill(connection, products=300, seed=3, keys_once=keys_once).keys,
        catalog_fill(connection, products=600, seed=3, keys_once=keys_once).keys,
        orders_fill(connection, orders=400, keys_once=keys_once).keys,
        orders_fill(connection, orders=800, keys_once=keys_once).keys,
    ]


def test_a_fill_checks_its_keys_once_and_makes_the_rows_a_row_by_row_fill_makes(
    migrated, run
):
    other = _run_made(migrated)
    try:
        with run.connect() as once, other.connect() as by_row:
            keys = _keys(once)

            assert _fill(once) == [KEYS_ONCE] * 4
            assert (
                _fill(by_row, keys_once=False) == ["checked row by row (asked to)"] * 4
            )
            assert _keys(once) == keys == _keys(by_row)
            assert _digests(once) == _digests(by_row)
            assert _digests(once)["orders_orderitem"][0] == 2_400
    finally:
        run_database_drop(run=other)


def test_a_fill_the_shop_holds_a_lock_against_checks_each_row_and_says_why(
    run, monkeypatch
):
    monkeypatch.setattr(plan_data, "LOCK_TIMEOUT_MS", 200)
    with psycopg.connect(database_url(run.name, libpq=True)) as shop:
        # A transaction the shop left open on a table the fill writes.
        shop.execute("LOCK TABLE catalog_review IN ACCESS SHARE MODE")
        with run.connect() as connection:
            filled = catalog_fill(connection, products=300, seed=3)

            assert filled.keys == (
                "checked row by row (canceling statement due to lock timeout)"
            )
            assert _digests(connection)["catalog_review"][0] == 3_000


def test_a_fill_the_shop_refuses_without_its_keys_gets_the_ids_of_a_row_by_row_fill(
    run,
):
    with run.connect() as connection:
        # A trigger of the shop's that needs the review's keys in place: the
        # products are in when it refuses, and their ids are handed out again.
        connection.execute(
            "CREATE FUNCTION public.keys_needed() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint"
            " WHERE conrelid = 'catalog_review'::regclass AND contype = 'f')"
            " THEN RAISE EXCEPTION 'the reviews have no keys'; END IF;"
            " RETURN NULL; END $$"
        )
        connection.execute(
            "CREATE TRIGGER keys_needed AFTER INSERT ON catalog_review"
            " FOR EACH STATEMENT EXECUTE FUNCTION public.keys_needed()"
        )

        filled = catalog_fill(connection, products=300, seed=3)

        assert filled.keys == "checked row by row (the reviews have no keys)"
        assert connection.execute(
            "SELECT min(id), max(id), count(*) FROM catalog_product"
        ).fetchone() == (1, 300, 300)


@pytest.mark.parametrize("seed", [0, 7, 11])
def test_each_search_term_names_one_active_product_as_the_catalog_doubles(run, seed):
    sizes = plan_data.plan_sizes(seed)
    terms = plan_data.search_terms(seed, sizes.products)
    matching = (
        "SELECT name FROM catalog_product"
        " WHERE is_active AND strpos(upper(name), upper(%s)) > 0"
    )
    with run.connect() as connection:
        found = []
        for products in (sizes.products, sizes.doubled().products):
            catalog_fill(connection, products=products, seed=seed)
            found.append(
                [connection.execute(matching, [term]).fetchall() for term in terms]
            )

    assert len(set(terms)) == len(terms) == 3
    assert all(term.islower() for term in terms)
    assert found[0] == found[1] == [[(f"Pro{term}",)] for term in terms]


def test_a_seq_scan_reads_the_rows_its_filter_removes_too(run):
    with run.connect() as connection:
        catalog_fill(connection, products=300, seed=3)
        query = CapturedQuery(
            alias="default",
            sql="SELECT id FROM catalog_product WHERE name = 'Product 17'",
            params=[],
            many=False,
            duration=0.0,
            transaction=False,
        )
        [plan] = explain_received(connection, run.role, [query])

    [scan] = plan.scans("catalog_product")
    assert scan.node_type == "Seq Scan"
    assert (scan.actual_rows, scan.removed, scan.rows_read) == (1, 299, 300)


def test_orders_without_items_leave_the_items_and_the_catalog_empty(run):
    with run.connect() as connection:
        filled = orders_fill(connection, orders=300, items=0)

        counts = _digests(connection)
    assert filled.keys == KEYS_ONCE
    assert counts["orders_order"][0] == 300
    assert counts["orders_orderitem"][0] == counts["catalog_product"][0] == 0


def test_the_fill_vacuums_again_until_a_snapshot_older_than_its_rows_is_gone():
    name = f"plan_visible_{secrets.token_hex(4)}"
    url = database_url(name, libpq=True)
    create_database(name, fresh=True)
    try:
        with (
            psycopg.connect(url, autocommit=True) as filler,
            psycopg.connect(url) as older,
        ):
            filler.execute("CREATE TABLE filled (id int, pad text)")
            # A snapshot taken before the rows went in, as an autovacuum
            # ANALYZE that began during the fill holds one.
            older.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            older.execute("SELECT 1").fetchall()
            filler.execute(
                "INSERT INTO filled SELECT g, repeat('x', 200)"
                " FROM generate_series(1, 5000) g"
            )
            release = threading.Timer(0.5, older.rollback)
            release.start()
            plan_data.tables_analyze(filler, "filled")
            release.join()
            pages, visible = filler.execute(
                "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'filled'"
            ).fetchone()
    finally:
        drop_database(name)

    assert pages > 0
    assert visible == pages
