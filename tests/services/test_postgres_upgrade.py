"""An embedded cluster of an older PostgreSQL is moved aside, never lost.

The clusters here are data folders whose PG_VERSION names PostgreSQL 16:
that file is all the version check reads, and a real PostgreSQL 16 needs a
package the course no longer installs.
"""

import subprocess
import sys

import pytest

from checker.services.base import ServiceError, pid_alive
from checker.services.postgres import EmbeddedPostgres, _server_major


def _old_cluster(layout, *, pid=None):
    data = layout.postgres_data
    (data / "base").mkdir(parents=True)
    (data / "PG_VERSION").write_text("16\n")
    (data / "base" / "rows").write_text("the learner's rows\n")
    if pid is not None:
        (data / "postmaster.pid").write_text(f"{pid}\n{data}\n")
    return data


def _backups(layout):
    return sorted(p for p in layout.home.iterdir() if p.name.startswith("postgres-"))


def _old_postmaster(*, ignore_interrupt=False):
    """Start a process standing in for an old server; return it once it runs."""
    code = "import signal, sys, time\n"
    if ignore_interrupt:
        code += "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(60)\n"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout.readline() == b"ready\n"
    return process


def test_upgrade_moves_the_old_cluster_aside_and_starts_a_new_one(postgres):
    _old_cluster(postgres.layout)

    messages = postgres.start(upgrade=True)

    [backup] = _backups(postgres.layout)
    ours = _server_major()
    assert backup.name.startswith("postgres-16-")
    assert messages[0] == (
        f"Moved the PostgreSQL 16 cluster aside to {backup} (kept as it was: "
        f"PostgreSQL 16's own server opens it); a PostgreSQL {ours} cluster "
        f"replaces it in {postgres.data}."
    )
    assert messages[1] == f"Created a PostgreSQL cluster in {postgres.data}."
    assert (backup / "base" / "rows").read_text() == "the learner's rows\n"
    assert (postgres.data / "PG_VERSION").read_text() == f"{ours}\n"
    assert postgres.status().running
    assert postgres.start(upgrade=True) == []


def test_upgrade_stops_an_old_server_still_running_on_the_cluster_first(postgres):
    old = _old_postmaster()
    try:
        _old_cluster(postgres.layout, pid=old.pid)

        messages = postgres.start(upgrade=True)

        assert old.wait(timeout=10) != 0
        assert messages[0] == f"Stopped the PostgreSQL 16 server (process {old.pid})."
        assert messages[1].startswith("Moved the PostgreSQL 16 cluster aside to ")
        assert postgres.status().running
    finally:
        old.kill()
        old.wait()


def test_an_old_server_that_will_not_stop_is_named_and_nothing_is_moved(
    layout, monkeypatch
):
    monkeypatch.setattr(EmbeddedPostgres, "old_server_timeout", 0.5)
    old = _old_postmaster(ignore_interrupt=True)
    try:
        data = _old_cluster(layout, pid=old.pid)

        with pytest.raises(ServiceError) as raised:
            EmbeddedPostgres(layout).start(upgrade=True)

        assert raised.value.why == (
            f"the old PostgreSQL 16 server (process {old.pid}) still runs on "
            f"{data} and could not be stopped: it did not stop within 0.5 s. "
            "Nothing was moved."
        )
        assert raised.value.fix == (
            f"stop process {old.pid} (`kill {old.pid}`), then run `make start` again."
        )
        assert pid_alive(old.pid)
        assert (data / "base" / "rows").exists()
        assert _backups(layout) == []
    finally:
        old.kill()
        old.wait()


def test_stop_stops_an_old_server_without_moving_its_cluster(layout):
    old = _old_postmaster()
    try:
        data = _old_cluster(layout, pid=old.pid)

        messages = EmbeddedPostgres(layout).stop()

        assert old.wait(timeout=10) != 0
        assert messages == [f"Stopped the PostgreSQL 16 server (process {old.pid})."]
        assert (data / "base" / "rows").exists()
        assert _backups(layout) == []
    finally:
        old.kill()
        old.wait()
