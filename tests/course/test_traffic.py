"""`checker.course.traffic`: a bounded mix of requests, the same for a seed."""

import argparse
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rich.console import Console

from checker.course.traffic import MIX, traffic_command, traffic_plan, traffic_run

PRODUCTS = [(f"product-{n}", f"SKU-{n:04d}") for n in range(1, 41)]
BRANDS = ["acme", "norvik"]


def test_every_block_of_twenty_asks_each_endpoint_its_share():
    visits = traffic_plan(products=PRODUCTS, brands=BRANDS, requests=40, seed=3)

    assert len(visits) == 40
    for block in (visits[:20], visits[20:]):
        assert Counter(v.endpoint for v in block) == dict(MIX)


def test_the_same_seed_sends_the_same_requests_and_another_seed_others():
    def paths(seed):
        plan = traffic_plan(products=PRODUCTS, brands=BRANDS, requests=30, seed=seed)
        return [visit.path for visit in plan]

    assert paths(5) == paths(5)
    assert paths(5) != paths(6)


def test_lookups_type_all_but_the_last_character_of_a_newer_sku():
    visits = traffic_plan(products=PRODUCTS, brands=BRANDS, requests=60, seed=1)

    typed = {
        v.path.partition("=")[2] for v in visits if v.endpoint.startswith("GET /lookup")
    }
    newer = {sku[:-1].lower() for _, sku in PRODUCTS[20:]}
    assert typed and typed <= newer


def test_a_shop_without_products_cannot_be_planned():
    with pytest.raises(ValueError, match="run `course seed` first"):
        traffic_plan(products=[], brands=BRANDS, requests=10)


def test_traffic_to_another_machine_is_refused():
    console = Console(record=True, width=200)
    args = argparse.Namespace(
        url="http://example.com:8000", requests=10, seconds=1, seed=0
    )

    assert traffic_command(args, console) == 2
    assert "traffic goes to loopback only" in console.export_text()


class _Shop(BaseHTTPRequestHandler):
    def do_GET(self):
        status = 500 if self.path.startswith("/brands/") else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_each_endpoint_is_timed_and_its_errors_counted():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    visits = traffic_plan(products=PRODUCTS, brands=BRANDS, requests=20, seed=0)
    try:
        figures = traffic_run(
            f"http://127.0.0.1:{server.server_port}", visits, seconds=30
        )
    finally:
        server.shutdown()

    found = {f.endpoint: f for f in figures}
    assert {name: len(f.seconds) for name, f in found.items()} == dict(MIX)
    assert {name: f.errors for name, f in found.items() if f.errors} == {
        "GET /brands/": 1,
        "GET /brands/<slug>/": 3,
    }
    assert [f.total for f in figures] == sorted(
        (f.total for f in figures), reverse=True
    )
