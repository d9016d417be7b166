"""Lesson 10's slow queries fail when one piece of the reference fix is out."""

from __future__ import annotations

import psycopg
import pytest

from checker.services.urls import database_url
from tests.lessons.conftest import graded_with_breaks

CONF = "shop_app/deploy/postgresql.conf"
COMMAND = "shop_app/ops/management/commands/slow_queries.py"
# Every statement is logged, plans come without buffers, and the command
# ranks statements by calls instead of total time.
BREAKS = [
    (CONF, r"^log_min_duration_statement = 100ms$", "log_min_duration_statement = 0"),
    (CONF, r"^auto_explain\.log_buffers = on$", "auto_explain.log_buffers = off"),
    (COMMAND, r"ORDER BY total_exec_time DESC", "ORDER BY calls DESC"),
]


def _preloaded() -> str:
    with psycopg.connect(database_url("postgres", libpq=True)) as connection:
        row = connection.execute("SHOW shared_preload_libraries").fetchone()
    return str(row[0]) if row else ""


@pytest.fixture(scope="module")
def broken(tmp_path_factory, grade, course):
    if "pg_stat_statements" not in _preloaded():
        pytest.skip(
            "the PostgreSQL server does not preload pg_stat_statements: add it"
            " to shared_preload_libraries and restart the server"
        )
    root = tmp_path_factory.mktemp("lesson-10-slow-broken")
    chosen = ["10-slow-queries"]
    return graded_with_breaks(root, grade, course, "10-slow-queries", chosen, BREAKS)


def test_logging_every_statement_is_named_with_a_quick_one_in_the_log(broken):
    slow = broken["10-slow-queries"]["slow-log"]

    assert not slow.passed
    assert "log_min_duration_statement is 0 in shop_app/deploy/postgresql.conf:" in (
        slow.message
    )
    assert "has every statement of the run, a SELECT 1 among them" in slow.message


def test_a_plan_without_buffers_names_log_buffers(broken):
    plan = broken["10-slow-queries"]["plan"]

    assert not plan.passed
    assert "without the shared buffers each node read" in plan.message
    assert "auto_explain.log_buffers is off in shop_app/deploy/postgresql.conf:" in (
        plan.message
    )


def test_a_command_ranking_by_calls_names_a_cheaper_statement_first(broken):
    top = broken["10-slow-queries"]["top-statement"]

    assert not top.passed
    assert "slow_queries --limit 5 names first" in top.message
    assert "pg_stat_statements ranks first the weekly sales report, 3 calls" in (
        top.message
    )
    assert "Order by total_exec_time descending" in top.message
