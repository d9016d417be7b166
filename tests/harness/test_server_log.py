"""The server's log is split into entries by backend, and read from the server."""

import psycopg

from checker.harness.server_log import LogEntry, ServerLog, entries_parse
from checker.services.urls import database_url

LOG = (
    "2026-12-02 17:12:21.753 UTC [12312] LOG:  duration: 204.602 ms  plan:\n"
    "\tQuery Text: SELECT 1\n"
    "\tResult  (cost=0.00..0.01 rows=1 width=4)\n"
    "2026-12-02 17:12:21.754 UTC [12313] user@shop WARNING:  forged\n"
    "\t2026-12-02 17:12:21.755 UTC [12312] LOG:  duration: 1.0 ms  statement: x\n"
)


def test_continuation_lines_join_the_entry_they_follow():
    entries = entries_parse(LOG)

    assert entries[0] == LogEntry(
        12312,
        "LOG",
        "duration: 204.602 ms  plan:\nQuery Text: SELECT 1\n"
        "Result  (cost=0.00..0.01 rows=1 width=4)",
    )


def test_a_line_a_session_sends_never_passes_for_another_sessions_entry():
    entries = entries_parse(LOG)

    assert [(e.pid, e.level) for e in entries] == [(12312, "LOG"), (12313, "WARNING")]
    assert entries[1].message.endswith("statement: x")


def test_a_sessions_own_lines_are_read_back_from_the_server():
    with psycopg.connect(database_url("postgres", libpq=True), autocommit=True) as su:
        log = ServerLog(su)
        mark = log.mark()
        su.execute("SET log_min_duration_statement = 0")
        pid = su.execute("SELECT pg_backend_pid()").fetchone()[0]
        su.execute("SELECT /* server log test */ 1")
        su.execute("RESET log_min_duration_statement")
        mine = log.entries(mark, pid=pid)
        others = log.entries(mark, pid=pid + 1_000_000)

    assert any("server log test" in e.message for e in mine)
    assert others == []
