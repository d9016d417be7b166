import os
import signal

import psycopg
import pytest

from checker.services.base import ServiceError, pid_alive, wait_until
from checker.services.postgres import EmbeddedPostgres, _server_major


def test_start_creates_the_cluster_and_the_shop_database(postgres):
    messages = postgres.start()

    assert messages[0].startswith("Created a PostgreSQL cluster in ")
    assert messages[-1] == f"Started PostgreSQL on {postgres.socket}."
    with psycopg.connect(host=str(postgres.layout.run), user="postgres",
                         dbname="shop") as connection:  # fmt: skip
        assert connection.execute("SELECT 1").fetchone() == (1,)


def test_a_second_start_is_a_no_op(postgres):
    postgres.start()
    pid = postgres.status().pid

    assert postgres.start() == []
    assert postgres.status().pid == pid


def test_stop_stops_the_server_and_status_says_so(postgres):
    postgres.start()

    assert postgres.stop() == ["Stopped PostgreSQL."]
    status = postgres.status()
    assert (status.running, status.pid, status.note) == (False, None, "")
    assert postgres.stop() == []


def test_start_recovers_after_the_server_was_killed(postgres):
    postgres.start()
    pid = postgres.status().pid
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(pid), timeout=10)

    assert postgres.status().note == f"stale postmaster.pid: process {pid} is gone"
    messages = postgres.start()

    assert messages[0] == (
        f"Found a stale postmaster.pid: process {pid} is gone "
        "(probably after a crash); removed it."
    )
    assert postgres.status().running


def test_start_recovers_from_a_stale_socket(postgres):
    postgres.start()
    postgres.stop()
    postgres.socket.write_text("")

    assert postgres.status().note == "stale socket: no server behind it"
    messages = postgres.start()

    assert messages[0] == (
        "Found a stale socket: no server behind it (probably after a crash); "
        "removed it."
    )
    assert postgres.status().running


def test_a_broken_cluster_fails_with_which_why_and_what_to_try(layout):
    layout.postgres_data.mkdir(parents=True)
    (layout.postgres_data / "PG_VERSION").write_text("not a version\n")

    with pytest.raises(ServiceError) as raised:
        EmbeddedPostgres(layout).start()

    assert raised.value.service == "PostgreSQL"
    assert str(raised.value).startswith("PostgreSQL could not start: ")
    assert "set DATABASE_URL to a PostgreSQL you run" in raised.value.fix


def test_a_cluster_of_another_major_version_is_refused_and_kept(layout):
    layout.postgres_data.mkdir(parents=True)
    (layout.postgres_data / "PG_VERSION").write_text("9\n")
    (layout.postgres_data / "base").mkdir()

    with pytest.raises(ServiceError) as raised:
        EmbeddedPostgres(layout).start()

    data = layout.postgres_data
    ours = _server_major()
    assert str(raised.value) == (
        f"PostgreSQL could not start: the cluster in {data} was made by "
        f"PostgreSQL 9, and the embedded server installed now is PostgreSQL "
        f"{ours}, which cannot open it. Nothing was changed: your data is still "
        "there.\nTry: run `make start` (or `course start`): it stops the old "
        f"server, keeps the PostgreSQL 9 cluster as a backup, creates a PostgreSQL"
        f" {ours} one and seeds the data set you had. Or set DATABASE_URL to a "
        "PostgreSQL you run."
    )
    assert (data / "PG_VERSION").read_text() == "9\n"
    assert (data / "base").is_dir()
    assert sorted(p.name for p in layout.home.iterdir()) == ["postgres"]
