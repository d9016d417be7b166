"""Trusted tests of lesson 10's slow queries, read from PostgreSQL itself.

The learner's `shop_app/deploy/postgresql.conf` says which statements the
server logs and explains. Of it, the trusted side applies only the four
slow-query settings (`SETTINGS`), as superuser, to the run's role in the
run's database, and loads `auto_explain` into its sessions when the server
does not preload it. Then it sends the shop bounded traffic, runs a planted
slow statement (a weekly sales report) a few times as the run's role, and
reads the evidence itself: that session's own lines of the server's log
(`checker.harness.server_log`), and `pg_stat_statements` for the run's role
and database, read from the maintenance database, where the shop can define
nothing. The learner's `slow_queries` command runs in the shop's sandbox;
what it prints is a claim, checked against that read.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from checker.harness.run import ShopRun
from checker.harness.served import tree_kill
from checker.harness.server_log import LogEntry, LogUnreadable, ServerLog
from checker.harness.statements import (
    Statement,
    StatementsUnavailable,
    statements_read,
    statements_reset,
)
from checker.trusted.pg_conf import ConfError, conf_read
from checker.trusted.sites import shop_site

CONF = "shop_app/deploy/postgresql.conf"
COMMAND = "shop_app/ops/management/commands/slow_queries.py"
SETTINGS = (
    "log_min_duration_statement",
    "auto_explain.log_min_duration",
    "auto_explain.log_analyze",
    "auto_explain.log_buffers",
)
REPORT = "weekly sales report"
# 30 rows of 10 ms each: about 300 ms, however fast the machine.
PLANTED = (
    f"SELECT /* {REPORT} */ c.name, count(*) AS products"
    " FROM (SELECT * FROM public.catalog_product ORDER BY id LIMIT 30) AS p"
    " JOIN public.catalog_category AS c ON c.id = p.category_id"
    " WHERE pg_sleep(0.01) IS NOT NULL GROUP BY c.name ORDER BY c.name"
)
QUICK = "SELECT /* a quick statement */ 1"
PRODUCTS, CALLS = 30, 3
# The shop's own traffic: many cheap statements, each far below the report.
TRAFFIC = ["/products/"] * 12 + ["/categories/"] * 6
DETAILS = 12
COMMAND_SECONDS = 60.0
OUTPUT_LIMIT = 64 * 1024
_DURATION = re.compile(
    r"^duration: ([\d.]+) ms  (?:statement|execute [^:]*): (.*)", re.S
)
_PLAN = re.compile(r"^duration: ([\d.]+) ms  plan:\n(.*)", re.S)
_ROW = re.compile(r"^\s*([\d,]+)\s+([\d,]+(?:\.\d+)?)\s")


def _is_report(statement: Statement) -> bool:
    return REPORT in statement.query


@dataclass
class Observed:
    """What the server logged and counted under the run's traffic."""

    root: str
    # The settings applied, by name: (value, line of the learner's file).
    applied: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Why the evidence could not be collected, in words for the learner.
    problem: str = ""
    log_problem: str = ""
    stats_problem: str = ""
    entries: list[LogEntry] = field(default_factory=list)
    planted_ms: float = 0.0
    top: list[Statement] = field(default_factory=list)
    output: str = ""
    exit_code: int | None = None

    def site(self, name: str) -> str:
        line = self.applied.get(name, ("", 0))[1]
        if line:
            return f"{CONF}:{line}"
        return shop_site(self.root, CONF, r"TODO\(lesson 10\)")

    def value(self, name: str) -> str:
        return self.applied[name][0] if name in self.applied else "not set"


def _preloaded(connection: psycopg.Connection[tuple[Any, ...]]) -> list[str]:
    row = connection.execute("SHOW shared_preload_libraries").fetchone()
    return [name.strip() for name in str(row[0] if row else "").split(",")]


def _apply(
    superuser: psycopg.Connection[tuple[Any, ...]],
    observed: Observed,
    role: str,
    database: str,
) -> None:
    """Set the whitelisted settings of the learner's file for the run's role."""
    target = sql.SQL("ALTER ROLE {} IN DATABASE {} SET").format(
        sql.Identifier(role), sql.Identifier(database)
    )
    chosen = conf_read(Path(observed.root) / CONF, SETTINGS, shown=CONF)
    preloaded = "auto_explain" in _preloaded(superuser)
    if not preloaded:
        # Loaded in this session first, so its settings are checked here.
        superuser.execute("LOAD 'auto_explain'")
        superuser.execute(
            target + sql.SQL(" session_preload_libraries = 'auto_explain'")
        )
    # The log's words are read in English, whatever the server's locale.
    superuser.execute(target + sql.SQL(" lc_messages = 'C'"))
    for name, (value, line) in chosen.items():
        try:
            superuser.execute(
                target + sql.SQL(" {} = {}").format(sql.SQL(name), sql.Literal(value))
            )
        except psycopg.Error as error:
            first = str(error).splitlines()[0]
            raise ConfError(
                f"PostgreSQL refuses {name} = {value} ({CONF}:{line}): {first}"
            ) from None
        observed.applied[name] = (value, line)


def _traffic(shop_run: ShopRun, slugs: list[str]) -> None:
    shop = shop_run.shop
    for path in TRAFFIC + [
        f"/products/{slugs[n % len(slugs)]}/" for n in range(DETAILS)
    ]:
        shop.get(path)


def _planted(run: Any, log: ServerLog, observed: Observed) -> None:
    """Run the report as the run's role, in a new session; keep its log lines."""
    mark = log.mark()
    with run.connect() as session:
        row = session.execute("SELECT pg_backend_pid()").fetchone()
        session.execute(QUICK)
        durations = []
        for _ in range(CALLS):
            started = time.perf_counter()
            session.execute(PLANTED).fetchall()
            durations.append((time.perf_counter() - started) * 1000)
    observed.planted_ms = min(durations)
    observed.entries = log.entries(mark, pid=int(row[0]) if row else 0)


def _command(shop_run: ShopRun, observed: Observed) -> None:
    """Run the learner's `slow_queries` in the shop's sandbox; keep its output."""
    folder = shop_run.plan.folder / "slow"
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / "slow_queries.out"
    argv = [sys.executable, "shop_app/manage.py", "slow_queries", "--limit", "5"]
    with output.open("wb") as written:
        process = shop_run.spawn(argv, output=written)
        try:
            observed.exit_code = process.wait(timeout=COMMAND_SECONDS)
        except subprocess.TimeoutExpired:
            tree_kill(shop_run, process)
    with output.open("rb") as read:
        observed.output = read.read(OUTPUT_LIMIT).decode(errors="replace")


@pytest.fixture(scope="module")
def observed(shop_run: ShopRun) -> Iterator[Observed]:
    """Apply the learner's settings, send the traffic, and read what came of it."""
    shop = shop_run.shop
    shop.reset()
    products = shop.build("catalog_make", products=PRODUCTS, reviews_per_product=1)
    run = shop_run.database
    assert run is not None
    observed = Observed(root=shop_run.plan.root)
    superuser = run.connect_superuser()
    try:
        _apply(superuser, observed, run.role, run.name)
        try:
            statements_reset(run.role, run.name)
        except StatementsUnavailable as error:
            observed.stats_problem = str(error)
        else:
            superuser.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        log: ServerLog | None = None
        try:
            log = ServerLog(superuser)
        except LogUnreadable as error:
            observed.log_problem = str(error)
        _traffic(shop_run, [p["slug"] for p in products])
        if log is not None:
            try:
                _planted(run, log, observed)
            except LogUnreadable as error:
                observed.log_problem = str(error)
        else:
            with run.connect() as session:
                for _ in range(CALLS):
                    session.execute(PLANTED).fetchall()
        if not observed.stats_problem:
            observed.top = statements_read(run.role, run.name, by="time")[:5]
            _command(shop_run, observed)
    except ConfError as error:
        observed.problem = str(error)
    try:
        yield observed
    finally:
        superuser.execute(
            sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(
                sql.Identifier(run.role), sql.Identifier(run.name)
            )
        )
        superuser.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
        superuser.close()


def _usable(observed: Observed, what: str) -> None:
    problem = observed.problem or (
        observed.log_problem if what == "log" else observed.stats_problem
    )
    if problem:
        raise AssertionError(f"The slow-query evidence could not be read: {problem}")


def _kind(entries: list[LogEntry], pattern: re.Pattern[str], text: str) -> list[Any]:
    found = [pattern.match(e.message) for e in entries if e.level == "LOG"]
    return [m for m in found if m is not None and text in m[2]]


@pytest.mark.exercise("10-slow-queries", budget="slow-log")
def test_the_planted_slow_statement_is_logged_with_its_duration(
    observed: Observed,
) -> None:
    _usable(observed, "log")
    name = SETTINGS[0]
    value, site = observed.value(name), observed.site(name)
    logged = _kind(observed.entries, _DURATION, REPORT)
    report = (
        f"The {REPORT}, a statement the run sent {CALLS} times and that took"
        f" {observed.planted_ms:,.0f} ms each time,"
    )
    if not logged:
        others = _kind(observed.entries, _DURATION, "")
        why = (
            "-1 logs none"
            if not others
            else f"which is above the {observed.planted_ms:,.0f} ms it took"
        )
        raise AssertionError(
            f"{report} did not reach the server's log (budget: every statement"
            f" slower than a threshold, this one among them, logged with its"
            f" duration). {name} is {value} in {site}, {why}. Set it to the"
            " time above which a statement is worth a look: 100ms, say."
        )
    quick = _kind(observed.entries, _DURATION, "a quick statement")
    assert not quick, (
        f"{name} is {value} in {site}: the server's log has every statement of"
        f" the run, a SELECT 1 among them ({quick[0][1]} ms), so on a busy"
        " server the slow ones drown (budget: only statements slower than a"
        " threshold). Set it to 100ms, say."
    )


@pytest.mark.exercise("10-slow-queries", budget="plan")
def test_the_planted_slow_statement_has_its_plan_with_buffers_beside_it(
    observed: Observed,
) -> None:
    _usable(observed, "log")
    plans = [m[2] for m in _kind(observed.entries, _PLAN, REPORT)]
    name = SETTINGS[1]
    if not plans:
        raise AssertionError(
            f"The {REPORT} ({observed.planted_ms:,.0f} ms) has no plan in the"
            " server's log (budget: auto_explain's plan beside each slow"
            f" statement, with the rows and buffers each node read). {name} is"
            f" {observed.value(name)} in {observed.site(name)}; -1 explains"
            " none. Set it to the same threshold as log_min_duration_statement."
        )
    plan = plans[0]
    for needle, setting, what in (
        ("actual time=", SETTINGS[2], "the rows and time each node really took"),
        ("Buffers:", SETTINGS[3], "the shared buffers each node read"),
    ):
        first = plan.splitlines()[1] if len(plan.splitlines()) > 1 else plan
        assert needle in plan, (
            f"The {REPORT}'s plan is in the server's log ({first.strip()[:90]}),"
            f" without {what} (budget: actual rows and buffers in the plan)."
            f" {setting} is {observed.value(setting)} in {observed.site(setting)};"
            " turn it on."
        )


def _rows(output: str) -> list[tuple[str, int, float]]:
    found = []
    for line in output.splitlines():
        row = _ROW.match(line)
        if row:
            calls = int(row[1].replace(",", ""))
            found.append((line.strip(), calls, float(row[2].replace(",", ""))))
    return found


@pytest.mark.exercise("10-slow-queries", budget="top-statement")
def test_the_command_names_first_the_statement_with_the_most_total_time(
    observed: Observed,
) -> None:
    _usable(observed, "stats")
    site = shop_site(
        observed.root, COMMAND, r"TODO\(lesson 10\)", r"ORDER BY", r"def handle"
    )
    assert observed.top and _is_report(observed.top[0]), (
        "pg_stat_statements ranks first, for the run's role and database, "
        + (
            f"{observed.top[0].short()!r} ({observed.top[0].calls} calls,"
            f" {observed.top[0].total_ms:,.0f} ms)"
            if observed.top
            else "nothing"
        )
        + f", above the {REPORT} the run planted: a statement of the shop's"
        " own took more time than that report."
    )
    top = observed.top[0]
    rows = _rows(observed.output)
    command = "python shop_app/manage.py slow_queries --limit 5"
    if not rows:
        tail = " / ".join(observed.output.strip().splitlines()[-3:])[:200]
        raise AssertionError(
            f"{command} printed no statement (exit {observed.exit_code}:"
            f" {tail or 'nothing'}); pg_stat_statements ranks first the {REPORT},"
            f" {top.calls} calls and {top.total_ms:,.0f} ms in all (budget: the"
            " command names it first, with its calls and total time). Read"
            " pg_stat_statements for this database and user, ordered by"
            f" total_exec_time descending, in {site}."
        )
    line, calls, total = rows[0]
    assert REPORT in line and calls == top.calls, (
        f"{command} names first {line[:120]!r}; pg_stat_statements ranks first"
        f" the {REPORT}, {top.calls} calls and {top.total_ms:,.0f} ms in all"
        " (budget: the same statement first, with its calls, as"
        " calls, total ms, mean ms, rows, query). Order by total_exec_time"
        " descending, and keep only this database's and this user's rows"
        f" ({site})."
    )
    assert abs(total - top.total_ms) <= max(1.0, top.total_ms * 0.01), (
        f"{command} says the {REPORT} took {total:,.1f} ms in all;"
        f" pg_stat_statements says {top.total_ms:,.1f} ms (budget: the same, in"
        f" milliseconds, second on the line after the calls) ({site})."
    )
