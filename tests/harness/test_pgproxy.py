import shutil
import socket
import struct
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from django.db.utils import ConnectionHandler

from checker.harness.pgproxy import PgProxy, upstream_from_url
from checker.services import database_url

pytestmark = pytest.mark.services

REFUSED = 'FATAL:  this run may connect only as "{user}" to its own databases'


class Server:
    """The course's PostgreSQL as the proxy's tests connect to it."""

    def __init__(self, url):
        parts = urlsplit(url)
        self.upstream = upstream_from_url(url)
        self.user = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        self.database = parts.path.lstrip("/")


@pytest.fixture
def server():
    # The maintenance database: the shop's may not exist yet on a new server.
    return Server(database_url("postgres"))


@pytest.fixture
def folder():
    # Not pytest's tmp_path: a Unix socket path must stay under ~100 bytes.
    path = Path(tempfile.mkdtemp(prefix="pgproxy-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def proxy(server, folder):
    with PgProxy(
        folder / ".s.PGSQL.5432",
        server.upstream,
        user=server.user,
        databases={server.database},
    ) as proxy:
        yield proxy


@pytest.fixture
def connect(server, folder):
    """Return a function that connects to the proxy the way the shop does."""
    opened = []

    def connect(**options):
        options = {
            "host": str(folder),
            "port": 5432,
            "user": server.user,
            "password": server.password or None,
            "dbname": server.database,
            **options,
        }
        connection = psycopg.connect(**options)
        opened.append(connection)
        return connection

    yield connect
    for connection in opened:
        connection.close()


def texts(proxy, since=0):
    return [(s.sql, s.params) for s in proxy.statements(since)]


def test_simple_query_is_recorded_with_its_whole_text(proxy, connect):
    connection = connect(autocommit=True, cursor_factory=psycopg.ClientCursor)

    assert connection.execute("SELECT %s, %s", [1, "it's"]).fetchone() == (1, "it's")
    connection.execute("SELECT 1; SELECT 2")

    assert texts(proxy) == [
        ("SELECT 1, 'it''s'", ()),
        ("SELECT 1; SELECT 2", ()),
    ]


def test_server_side_binding_records_the_parse_text_and_the_bind_params(proxy, connect):
    connection = connect(autocommit=True)

    row = connection.execute("SELECT %s, %s, %s", ["text", None, 7]).fetchone()

    assert row == ("text", None, 7)
    # psycopg sends str in text format and int in binary (here an int2).
    assert texts(proxy) == [("SELECT $1, $2, $3", ("text", None, "b'\\x00\\x07'"))]


def test_executemany_records_one_statement_per_row(proxy, connect):
    connection = connect(autocommit=True)

    connection.cursor().executemany("SELECT %s::text", [("a",), ("b",), ("c",)])

    assert texts(proxy) == [
        ("SELECT $1::text", ("a",)),
        ("SELECT $1::text", ("b",)),
        ("SELECT $1::text", ("c",)),
    ]


def test_pipeline_records_every_statement_in_order(proxy, connect):
    connection = connect(autocommit=True)

    with connection.pipeline():
        first = connection.execute("SELECT %s::text", ["one"])
        second = connection.execute("SELECT upper(%s)", ["two"])

    assert (first.fetchone(), second.fetchone()) == (("one",), ("TWO",))
    assert texts(proxy) == [
        ("SELECT $1::text", ("one",)),
        ("SELECT upper($1)", ("two",)),
    ]


def test_statements_prepared_by_the_client_are_still_recorded(proxy, connect):
    # psycopg prepares a statement it has run five times and then only binds.
    connection = connect(autocommit=True, prepare_threshold=2)

    for word in ["a", "b", "c", "d"]:
        connection.execute("SELECT %s::text", [word])

    assert texts(proxy) == [("SELECT $1::text", (word,)) for word in "abcd"]


def test_a_django_connection_is_recorded_as_django_sends_it(
    proxy, server, folder, django_db_blocker
):
    databases = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": server.database,
                "USER": server.user,
                "PASSWORD": server.password,
                "HOST": str(folder),
                "PORT": "5432",
            }
        }
    )
    django = databases["default"]
    with django_db_blocker.unblock():
        # What an atomic() block around two ORM-like queries does.
        django.set_autocommit(False)
        savepoint = django.savepoint()
        with django.cursor() as cursor:
            cursor.execute("SELECT %s::int", [1])
            cursor.execute("SELECT %s || %s", ["a", "b"])
        django.savepoint_commit(savepoint)
        django.commit()
        django.set_autocommit(True)
        django.close()

    # Django binds client-side (no server_side_binding), so no params go apart.
    # It sets the time zone first only where the server's default differs.
    sent = texts(proxy)
    if sent[0] == ("SELECT set_config('TimeZone', 'UTC', false)", ()):
        sent = sent[1:]
    assert sent == [
        ("BEGIN", ()),
        (f'SAVEPOINT "{savepoint}"', ()),
        ("SELECT 1::int", ()),
        ("SELECT 'a' || 'b'", ()),
        (f'RELEASE SAVEPOINT "{savepoint}"', ()),
        ("COMMIT", ()),
    ]


def test_two_connections_are_numbered_apart(proxy, connect):
    first = connect(autocommit=True, cursor_factory=psycopg.ClientCursor)
    second = connect(autocommit=True, cursor_factory=psycopg.ClientCursor)

    first.execute("SELECT 'first'")
    second.execute("SELECT 'second'")
    first.execute("SELECT 'first again'")

    statements = proxy.statements()
    assert [(s.seq, s.sql) for s in statements] == [
        (0, "SELECT 'first'"),
        (1, "SELECT 'second'"),
        (2, "SELECT 'first again'"),
    ]
    assert statements[0].connection == statements[2].connection
    assert statements[0].connection != statements[1].connection


def test_mark_and_since_slice_a_window_of_statements(proxy, connect):
    connection = connect(autocommit=True, cursor_factory=psycopg.ClientCursor)
    connection.execute("SELECT 'before'")

    start = proxy.mark()
    connection.execute("SELECT 'inside'")
    before = time.monotonic()
    connection.execute("SELECT 'also inside'")

    assert start == 1
    window = proxy.statements(since=start)
    assert [(s.seq, s.sql) for s in window] == [
        (1, "SELECT 'inside'"),
        (2, "SELECT 'also inside'"),
    ]
    assert window[0].at < before <= window[1].at
    assert proxy.mark() == 3


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"user": "intruder"}, 'user "intruder" is not "{user}"'),
        ({"dbname": "template1"}, 'database "template1" is not one of this run\'s'),
        ({"replication": "database"}, "replication (database) is not allowed"),
    ],
    ids=["wrong user", "wrong database", "replication"],
)
def test_a_connection_outside_the_run_is_refused_with_a_fatal_error(
    proxy, connect, server, folder, options, reason
):
    with pytest.raises(psycopg.OperationalError) as excinfo:
        connect(**options)

    assert str(excinfo.value) == (
        f'connection failed: connection to server on socket "{folder}/.s.PGSQL.5432"'
        f" failed: {REFUSED.format(user=server.user)}"
    )
    assert proxy.refusals == [reason.format(user=server.user)]
    assert proxy.statements() == []


def test_a_refused_connection_never_reaches_the_server(server, folder, connect):
    # A bare listener in the server's place shows whether anything connects.
    tripwire = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tripwire.bind(str(folder / "server.sock"))
    tripwire.listen()
    tripwire.setblocking(False)
    listen = folder / ".s.PGSQL.5432"
    with PgProxy(
        listen, folder / "server.sock", user=server.user, databases={server.database}
    ):
        for options in [
            {"user": "intruder"},
            {"dbname": "template1"},
            {"replication": "database"},
        ]:
            with pytest.raises(psycopg.OperationalError):
                connect(**options)

    with pytest.raises(BlockingIOError):
        tripwire.accept()
    tripwire.close()


def test_results_relay_unchanged(proxy, connect):
    connection = connect(autocommit=True)

    rows = connection.execute(
        "SELECT n, repeat('x', n % 100) FROM generate_series(1, 50000) AS n"
    ).fetchall()

    assert len(rows) == 50000
    assert rows[-1] == (50000, "")
    assert rows[98] == (99, "x" * 99)


def test_a_failing_statement_relays_its_error_and_the_connection_goes_on(
    proxy, connect
):
    connection = connect(autocommit=True)

    with pytest.raises(psycopg.errors.DivisionByZero) as excinfo:
        connection.execute("SELECT 1 / %s", [0])
    assert connection.execute("SELECT 'after'").fetchone() == ("after",)

    assert str(excinfo.value) == "division by zero"
    assert [s.sql for s in proxy.statements()] == ["SELECT 1 / $1", "SELECT 'after'"]


def test_copy_in_and_out_relay_and_count_as_one_statement_each(proxy, connect):
    connection = connect(autocommit=True)
    connection.execute("CREATE TEMP TABLE copied (n int, word text)")
    rows = [(n, f"word {n}" * 20) for n in range(20000)]

    with connection.cursor().copy("COPY copied FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    out = []
    with connection.cursor().copy("COPY copied TO STDOUT") as copy:
        out = [(int(n), word) for n, word in copy.rows()]

    assert out == rows
    assert [s.sql for s in proxy.statements()] == [
        "CREATE TEMP TABLE copied (n int, word text)",
        "COPY copied FROM STDIN",
        "COPY copied TO STDOUT",
    ]


def test_closing_the_proxy_ends_open_connections_and_removes_the_socket(
    server, folder, connect
):
    listen = folder / ".s.PGSQL.5432"
    proxy = PgProxy(
        listen, server.upstream, user=server.user, databases={server.database}
    )
    proxy.start()
    connection = connect(autocommit=True)
    connection.execute("SELECT 1")

    proxy.close()

    with pytest.raises(psycopg.OperationalError):
        connection.execute("SELECT 1")
    assert not listen.exists()


def test_the_socket_is_open_to_other_users(proxy, folder):
    assert (folder / ".s.PGSQL.5432").stat().st_mode & 0o777 == 0o777


def test_a_cancel_request_reaches_the_server(proxy, connect):
    connection = connect(autocommit=True)
    threading.Timer(0.5, connection.cancel_safe).start()

    with pytest.raises(psycopg.errors.QueryCanceled):
        connection.execute("SELECT pg_sleep(20)")


def message(kind, body):
    return kind + struct.pack("!i", len(body) + 4) + body


class RawClient:
    """Speak the protocol by hand, to control how bytes are split."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.sock.settimeout(10)
        self.buffer = b""

    def startup(self, server):
        params = f"user\0{server.user}\0database\0{server.database}\0\0".encode()
        self.sock.sendall(struct.pack("!ii", len(params) + 8, 196608) + params)
        self.until_ready()

    def until_ready(self):
        """Read messages up to ReadyForQuery; fail on an ErrorResponse."""
        while True:
            while len(self.buffer) < 5 or len(self.buffer) < 1 + int.from_bytes(
                self.buffer[1:5]
            ):
                self.buffer += self.sock.recv(65536)
            kind = self.buffer[:1]
            length = int.from_bytes(self.buffer[1:5])
            self.buffer = self.buffer[1 + length :]
            assert kind != b"E"
            if kind == b"Z":
                return


def test_messages_split_across_reads_or_sent_together_are_recorded(
    proxy, server, folder
):
    raw = RawClient(folder / ".s.PGSQL.5432")
    raw.sock.sendall(struct.pack("!ii", 8, 80877103))
    assert raw.sock.recv(1) == b"N"
    raw.startup(server)

    # Several messages in one write, including an unread Describe and Sync.
    raw.sock.sendall(
        message(b"P", b"\0SELECT $1::text\0\0\0")
        + message(b"B", b"\0\0\0\0\0\x01\0\0\0\x05hello\0\0")
        + message(b"D", b"P\0")
        + message(b"E", b"\0\0\0\0\0")
        + message(b"S", b"")
    )
    raw.until_ready()
    # One Query, a byte at a time.
    for byte in message(b"Q", b"SELECT 'slow'\0"):
        raw.sock.sendall(bytes([byte]))
    raw.until_ready()
    raw.sock.sendall(message(b"X", b""))
    raw.sock.close()

    assert texts(proxy) == [("SELECT $1::text", ("hello",)), ("SELECT 'slow'", ())]


@pytest.mark.parametrize(
    ("url", "upstream"),
    [
        ("postgres://u@/shop?host=/run/pg", Path("/run/pg/.s.PGSQL.5432")),
        ("postgres://u@/shop?host=/run/pg&port=5433", Path("/run/pg/.s.PGSQL.5433")),
        ("postgresql://u@%2Frun%2FPG:6000/shop", Path("/run/PG/.s.PGSQL.6000")),
        ("postgres://u:p@127.0.0.1:5432/shop", ("127.0.0.1", 5432)),
        ("postgres://u@db.example/shop", ("db.example", 5432)),
    ],
)
def test_upstream_is_read_from_a_database_url(url, upstream):
    assert upstream_from_url(url) == upstream


def test_a_url_without_a_host_is_refused():
    with pytest.raises(ValueError) as excinfo:
        upstream_from_url("postgres://u@/shop")

    assert str(excinfo.value) == "postgres://u@/shop names no host or socket directory"
