"""The relay between Nginx and Gunicorn notes the requests that pass through it."""

from __future__ import annotations

import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from checker.harness.http_relay import HttpRelay


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _reply

    def log_message(self, *args: object) -> None:
        pass


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        # BaseHTTPRequestHandler wants a (host, port) client address.
        return request, ("local", 0)


@pytest.fixture
def relay():
    folder = Path(tempfile.mkdtemp(prefix="relay-"))
    server = _UnixServer(str(folder / "app.sock"), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with HttpRelay(folder / "relay.sock", folder / "app.sock") as running:
        yield running
    server.shutdown()
    server.server_close()


def _client(relay: HttpRelay) -> httpx.Client:
    transport = httpx.HTTPTransport(uds=str(relay.listen))
    return httpx.Client(transport=transport, base_url="http://localhost")


def test_every_request_on_a_kept_alive_connection_is_noted(relay):
    with _client(relay) as client:
        assert client.get("/products/").text == "ok"
        client.get("/static/app.css?v=2")

    noted = relay.requests()
    assert [(r.method, r.path) for r in noted] == [
        ("GET", "/products/"),
        ("GET", "/static/app.css?v=2"),
    ]
    assert noted[0].connection == noted[1].connection


def test_a_large_body_is_relayed_whole_and_noted_as_one_request(relay):
    mark = relay.mark()
    with _client(relay) as client:
        response = client.post("/upload/", content=b"\0" * 300_000)

    assert response.text == "ok"
    assert [(r.method, r.path) for r in relay.requests(mark)] == [("POST", "/upload/")]


def test_a_request_that_never_reaches_the_relay_is_not_noted(relay):
    assert relay.requests() == []


def test_a_relay_whose_folder_was_moved_says_so(relay):
    assert relay.moved() == ""

    folder = relay.listen.parent
    folder.rename(folder.with_name(folder.name + "-moved"))
    folder.with_name(folder.name + "-moved").rename(folder)

    # Moved and back: the socket is the same, but the move was seen.
    assert relay.moved() == f"{folder} was renamed or removed"


def test_a_socket_replaced_in_the_relays_folder_is_named(relay):
    relay.listen.unlink()
    relay.listen.touch()

    assert relay.moved() == f"{relay.listen} is another socket than the relay's"
