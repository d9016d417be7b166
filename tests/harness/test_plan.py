"""What a run leaves behind is removed after a kill, and only then looked for."""

import secrets
import subprocess
import sys

import psycopg

from checker.harness.database import run_database_create, run_database_drop
from checker.harness.plan import REDIS_PID, STARTED, RunPlan, run_leftovers_remove
from checker.services.urls import database_url


def _plan(folder, token):
    return RunPlan(root=".", scratch=str(folder), token=token, seed=1, upstream="")


def _database_exists(name):
    with psycopg.connect(database_url("postgres", libpq=True)) as connection:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        return connection.execute(query, [name]).fetchone() is not None


def _killed_run(folder, *, started):
    """A run's database and Redis stand-in, as a kill at the time limit leaves them."""
    run = run_database_create(token=f"t{secrets.token_hex(4)}", fence_others=False)
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (folder / "redis").mkdir(parents=True)
    (folder / REDIS_PID).write_text(str(server.pid))
    if started:
        (folder / STARTED).touch()
    return run, server


def test_a_killed_run_loses_its_database_role_and_server(tmp_path):
    run, server = _killed_run(tmp_path, started=True)
    token = run.name.removeprefix("course_run_")
    try:
        run_leftovers_remove(_plan(tmp_path, token))

        assert server.wait(timeout=10) < 0
        assert not _database_exists(run.name)
    finally:
        server.kill()
        run_database_drop(run=run)


def test_a_run_that_ended_on_its_own_is_not_looked_at_again(tmp_path):
    run, server = _killed_run(tmp_path, started=False)
    token = run.name.removeprefix("course_run_")
    try:
        run_leftovers_remove(_plan(tmp_path, token))

        assert server.poll() is None
        assert _database_exists(run.name)
    finally:
        server.kill()
        server.wait()
        run_database_drop(run=run)
