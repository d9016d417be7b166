"""A learner's check copies a migrated template instead of migrating again."""

import secrets
import shutil
import tempfile
import threading
from pathlib import Path

import psycopg
import pytest

from checker.harness.database import run_database_create, run_database_drop
from checker.harness.plan import STARTED, RunPlan
from checker.harness.run import ShopRun
from checker.harness.templates import (
    TEMPLATE_PREFIX,
    TEMPLATES_KEPT,
    template_for,
    template_keep,
    template_statements,
)
from checker.services import drop_database, service_urls
from checker.services.urls import database_url

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def shop_root(tmp_path):
    """Return a copy of the shop whose migrations no template has seen."""
    root = tmp_path / "learner"
    shutil.copytree(
        REPO / "shop_app",
        root / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "tests"),
    )
    migration = root / "shop_app" / "catalog" / "migrations" / "0001_initial.py"
    migration.write_text(f"{migration.read_text()}\n# {secrets.token_hex(8)}\n")
    yield root
    drop_database(template_for(root)[0])


def _run(root):
    plan = RunPlan(
        root=str(root),
        # Under /tmp: the proxy's socket path must stay short.
        scratch=tempfile.mkdtemp(prefix="course-template-"),
        token=secrets.token_hex(4),
        seed=1,
        upstream=service_urls().database,
    )
    return ShopRun(plan)


def test_the_first_check_leaves_an_empty_template_and_the_next_copies_it(shop_root):
    first = _run(shop_root)
    first.start()
    first.shop.build("catalog_make", products=3)
    # A copy's data comes from the course's own builder, not the copy.
    built_apart = first.builder is not None
    migrated = first.migration_statements
    first.stop()
    _, kept = template_for(shop_root)

    second = _run(shop_root)
    second.start()
    try:
        [(products,)] = second.database.query("SELECT count(*) FROM catalog_product")
        [(applied,)] = second.database.query("SELECT count(*) FROM django_migrations")
        second.shop.build("catalog_make", products=2)
    finally:
        second.stop()

    assert kept
    assert built_apart
    assert second._template_keep is None
    # Nothing is left for the runner to look for after a run that ended.
    assert not (second.plan.folder / STARTED).exists()
    assert products == 0
    assert applied > 10
    # What the migrations sent is kept with the template, for a copy to read.
    assert any(text.startswith('CREATE TABLE "orders_order"') for _, text in migrated)
    assert second.migration_statements == migrated


def _templates():
    pattern = TEMPLATE_PREFIX.replace("_", r"\_") + "%"
    with psycopg.connect(database_url("postgres", libpq=True)) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern]
        ).fetchall()
    return {name for (name,) in rows}


def test_keeping_a_template_drops_all_but_the_newest(shop_root):
    older = [
        f"{TEMPLATE_PREFIX}old{secrets.token_hex(4)}" for _ in range(TEMPLATES_KEPT)
    ]
    with psycopg.connect(database_url("postgres", libpq=True), autocommit=True) as c:
        for name in older:
            c.execute(f'CREATE DATABASE "{name}"')
    try:
        run = _run(shop_root)
        run.start()
        run.stop()
        kept, _ = template_for(shop_root)
        left = _templates()
    finally:
        with psycopg.connect(
            database_url("postgres", libpq=True), autocommit=True
        ) as c:
            for name in older:
                c.execute(f'DROP DATABASE IF EXISTS "{name}"')

    assert kept in left
    assert len(left) == TEMPLATES_KEPT
    assert older[0] not in left
    assert set(older[1:]) <= left


def test_the_course_s_own_shop_builds_its_data_itself():
    run = _run(REPO)
    run.start()
    try:
        run.shop.build("catalog_make", products=2)
        [(products,)] = run.database.query("SELECT count(*) FROM catalog_product")
    finally:
        run.stop()

    assert run.builder is None
    assert products == 2


def test_a_template_dropped_before_its_copy_is_migrated_anew(shop_root, monkeypatch):
    gone = f"{TEMPLATE_PREFIX}gone{secrets.token_hex(4)}"
    # As if another check pruned it between the lookup and the copy.
    monkeypatch.setattr("checker.harness.run.template_for", lambda root: (gone, True))
    run = _run(shop_root)
    run.start()
    try:
        run.shop.build("catalog_make", products=2)
    finally:
        run.stop()
    left = _templates()
    with psycopg.connect(database_url("postgres", libpq=True), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{gone}"')

    assert gone in left


def test_a_check_whose_migrations_fail_leaves_no_template(shop_root):
    migration = shop_root / "shop_app" / "catalog" / "migrations" / "0001_initial.py"
    migration.write_text(f"{migration.read_text()}\nraise RuntimeError('broken')\n")
    run = _run(shop_root)
    try:
        with pytest.raises(Exception, match="broken"):
            run.start()
    finally:
        run.stop()

    _, kept = template_for(shop_root)
    assert not kept


def test_two_checks_keeping_the_same_template_at_once_both_end_well():
    name = f"{TEMPLATE_PREFIX}race{secrets.token_hex(4)}"
    runs = [run_database_create(token=secrets.token_hex(4)) for _ in range(2)]
    for run in runs:
        run.query("CREATE TABLE public.kept (id int)")
    start = threading.Barrier(2)
    failures = []

    def keep(run):
        start.wait()
        try:
            template_keep(run, name, [(1, 'CREATE TABLE "kept" (id int)')])
        except Exception as error:  # the failure is the finding
            failures.append(error)

    threads = [threading.Thread(target=keep, args=(run,)) for run in runs]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        kept = template_statements(name)
    finally:
        for run in runs:
            run_database_drop(run=run)
        drop_database(name)

    assert failures == []
    assert kept == [(1, 'CREATE TABLE "kept" (id int)')]
