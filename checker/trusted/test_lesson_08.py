"""Trusted tests of lesson 8: shipping quotes awaited together, under ASGI.

The carriers are a real HTTP service (`checker.services.carriers`) served by
Uvicorn on a Unix socket in the run's folder, and the shop is served through
Django's ASGI handler by Uvicorn, started beside it in its sandbox. What is
graded is what the carrier service saw: how many requests were in flight at
once, and what the page shows when a carrier is slow or down.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from checker.harness.run import ShopRun
from checker.harness.shop import Shop
from checker.services.carriers import (
    CARRIERS,
    LATENCY_SECONDS,
    CarrierRequest,
    CarrierService,
    quote_compute,
)
from checker.trusted.sites import shop_site

CITY = "Oslo"
# The shop's timeout per carrier in these tests, and how late the slow one is.
TIMEOUT_SECONDS = 1.0
SLOW_SECONDS = 4.0
# Room for Django and Uvicorn on a busy machine, beyond the carriers' time.
SLACK_SECONDS = 1.0
START_SECONDS = 30.0
QUOTE_ROW = re.compile(
    r'<tr class="quote"><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>'
)
FRAME = re.compile(r'File "[^"]*/(shop_app/[^"]+)", line (\d+)')


@dataclass
class AsgiShop:
    """The shop served by Uvicorn through Django's ASGI handler."""

    socket: Path
    log: Path

    def get(self, path: str) -> tuple[httpx.Response, float]:
        """GET `path`; return the response and the seconds it took."""
        transport = httpx.HTTPTransport(uds=str(self.socket))
        # Plain-text tracebacks when the shop fails (it runs with DEBUG on).
        headers = {"accept": "text/plain"}
        with httpx.Client(
            transport=transport, base_url="http://localhost", timeout=30
        ) as client:
            started = time.monotonic()
            response = client.get(path, headers=headers)
            return response, time.monotonic() - started


@pytest.fixture(scope="module")
def carriers(shop_run: ShopRun) -> Iterator[CarrierService]:
    """Serve the carriers where the shop's settings look for them."""
    socket = shop_run.plan.folder / "carriers" / "carriers.sock"
    with CarrierService(socket=socket, latency=LATENCY_SECONDS) as service:
        yield service


@pytest.fixture
def quiet_carriers(carriers: CarrierService) -> CarrierService:
    """Return the carriers, every one healthy at the usual latency."""
    carriers.configure(latency=LATENCY_SECONDS, slow={}, failing=())
    return carriers


@pytest.fixture(scope="module")
def asgi(shop_run: ShopRun, carriers: CarrierService) -> Iterator[AsgiShop]:
    """Serve the shop with Uvicorn beside it, in its sandbox when it has one."""
    folder = shop_run.plan.folder
    socket = folder / "home" / "asgi.sock"
    log = folder / "carriers" / "asgi.log"
    socket.unlink(missing_ok=True)
    with log.open("wb") as output:
        process = shop_run.spawn(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--uds",
                str(socket),
                "--no-access-log",
                "--log-level",
                "warning",
                "config.asgi:application",
            ],
            env={
                "DJANGO_DEBUG": "1",
                "CARRIERS_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            },
            output=output,
        )
    shop = AsgiShop(socket=socket, log=log)
    try:
        _ready(shop, process)
        yield shop
    finally:
        process.kill()
        process.wait(timeout=10)


def _ready(shop: AsgiShop, process: Any) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if shop.socket.exists():
            try:
                shop.get("/no-such-page/")
                return
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    tail = shop.log.read_text(errors="replace")[-2000:] if shop.log.exists() else ""
    raise AssertionError(
        "The shop did not start under Uvicorn (uvicorn config.asgi:application)"
        f" within {START_SECONDS:.0f} s.{f' It printed: {tail}' if tail else ''}"
    )


def _product(shop: Shop, trusted_sql: Any) -> dict[str, Any]:
    """Build one product; return its reference and its price, read from the table."""
    [product] = shop.build("catalog_make", products=1, reviews_per_product=0)
    [(price,)] = trusted_sql.execute(
        "SELECT price FROM public.catalog_product WHERE id = %s", [product["pk"]]
    ).fetchall()
    return {**product, "price": Decimal(price)}


def _path(product: dict[str, Any]) -> str:
    return f"/products/{product['slug']}/shipping/?city={CITY}"


def _label(product: dict[str, Any]) -> str:
    return f"GET /products/{product['slug']}/shipping/ under Uvicorn"


def _served(response: httpx.Response, label: str) -> str:
    """Return the page's text; fail, naming the error and where, unless it is 200."""
    if response.status_code == 200:
        return response.text
    body = response.text
    frames = FRAME.findall(body)
    where = f" from {frames[-1][0]}:{frames[-1][1]}" if frames else ""
    if "SynchronousOnlyOperation" in body:
        raise AssertionError(
            f"{label} answered 500: SynchronousOnlyOperation{where}. A"
            " synchronous ORM call ran in the event loop (budget: none, served"
            " through Django's ASGI handler). Await the async ORM"
            " (`await Product.objects.aget(...)`) or wrap the call in"
            " `sync_to_async`."
        )
    first = next((line for line in body.splitlines() if line.strip()), "")
    raise AssertionError(
        f"{label} answered {response.status_code}{where}: {first[:300]}"
    )


def _quotes(text: str) -> dict[str, tuple[str, str]]:
    return {carrier: (price, days) for carrier, price, days in QUOTE_ROW.findall(text)}


def _expected(product: dict[str, Any], carriers: tuple[str, ...] = CARRIERS) -> Any:
    price = product["price"]
    answers = [quote_compute(carrier=c, price=price, city=CITY) for c in carriers]
    return {a["carrier"]: (a["price"], str(a["days"])) for a in answers}


def _in_flight_most(requests: list[CarrierRequest]) -> int:
    return max((request.in_flight for request in requests), default=0)


def _names(carriers: list[str]) -> str:
    return ", ".join(carriers[:-1]) + f" and {carriers[-1]}" if carriers else "none"


def _warm(asgi: AsgiShop, carriers: CarrierService, product: dict[str, Any]) -> None:
    """View the page once with every carrier healthy: the first view sets up."""
    carriers.configure(latency=LATENCY_SECONDS, slow={}, failing=())
    asgi.get(_path(product))


@pytest.mark.exercise("08-concurrent-quotes", budget="in-flight")
def test_one_page_view_has_every_carrier_request_in_flight_at_once(
    shop: Shop,
    shop_run: ShopRun,
    trusted_sql: Any,
    asgi: AsgiShop,
    quiet_carriers: CarrierService,
) -> None:
    product = _product(shop, trusted_sql)
    label = _label(product)
    mark = quiet_carriers.mark()
    response, seconds = asgi.get(_path(product))
    _served(response, label)
    requests = quiet_carriers.requests(mark)
    most = _in_flight_most(requests)
    asked = sorted({request.carrier for request in requests}, key=CARRIERS.index)
    if most >= len(CARRIERS):
        return
    site = shop_site(
        shop_run.plan.root, "shop_app/catalog/views.py", r"def product_shipping"
    )
    how = "one after another" if most <= 1 else "partly together"
    raise AssertionError(
        f"{label} asked {_names(asked)} {how}: {len(requests)} requests, never"
        f" more than {most} in flight (budget: all {len(CARRIERS)} in flight at"
        f" once). The page took {seconds:.2f} s; each carrier answers in"
        f" {LATENCY_SECONDS:.1f} s. In {site}, make the view `async def` and"
        " await every carrier together: `asyncio.gather()` over"
        " `httpx.AsyncClient` requests."
    )


@pytest.mark.exercise("08-concurrent-quotes", budget="event-loop")
def test_the_page_makes_no_synchronous_orm_call_in_the_event_loop(
    shop: Shop, trusted_sql: Any, asgi: AsgiShop, quiet_carriers: CarrierService
) -> None:
    product = _product(shop, trusted_sql)
    response, _ = asgi.get(_path(product))
    _served(response, _label(product))
    # A product that does not exist is looked up in the event loop too.
    missing, _ = asgi.get(f"/products/no-such-product/shipping/?city={CITY}")
    if missing.status_code != 404:
        _served(missing, "GET /products/no-such-product/shipping/ under Uvicorn")
        raise AssertionError(
            "GET /products/no-such-product/shipping/ under Uvicorn answered"
            f" {missing.status_code}; expected 404."
        )


@pytest.mark.exercise("08-concurrent-quotes", budget="same-output")
def test_the_page_shows_every_carrier_quote_as_before(
    shop: Shop, trusted_sql: Any, asgi: AsgiShop, quiet_carriers: CarrierService
) -> None:
    product = _product(shop, trusted_sql)
    label = _label(product)
    response, _ = asgi.get(_path(product))
    text = _served(response, label)
    shown, expected = _quotes(text), _expected(product)
    assert shown == expected, (
        f"{label} showed the quotes {shown}; expected {expected}, the carriers'"
        " answers."
    )
    prices = [Decimal(price) for price, _ in shown.values()]
    assert prices == sorted(prices), f"{label} did not list the cheapest first."


@pytest.mark.exercise("08-slow-carriers", budget="slow")
def test_a_slow_carrier_costs_at_most_the_timeout(
    shop: Shop,
    shop_run: ShopRun,
    trusted_sql: Any,
    asgi: AsgiShop,
    carriers: CarrierService,
) -> None:
    slow = CARRIERS[1]
    product = _product(shop, trusted_sql)
    _warm(asgi, carriers, product)
    carriers.configure(latency=LATENCY_SECONDS, slow={slow: SLOW_SECONDS})
    label = f"{_label(product)}, {slow} answering after {SLOW_SECONDS:.0f} s,"
    response, seconds = asgi.get(_path(product))
    text = _served(response, label)
    others = tuple(c for c in CARRIERS if c != slow)
    budget = TIMEOUT_SECONDS + LATENCY_SECONDS + SLACK_SECONDS
    site = shop_site(
        shop_run.plan.root, "shop_app/catalog/shipping.py", r"Client\(|client\("
    )
    assert seconds <= budget, (
        f"{label} took {seconds:.2f} s (budget: at most {budget:.1f} s, the"
        f" carriers' timeout CARRIERS_TIMEOUT_SECONDS={TIMEOUT_SECONDS} plus"
        f" {LATENCY_SECONDS + SLACK_SECONDS:.1f} s): the page waited for the"
        f" slowest carrier. Give each carrier a deadline in {site}:"
        " `asyncio.timeout(settings.CARRIERS_TIMEOUT_SECONDS)` around its"
        " request, or the client's `timeout=`."
    )
    shown = {c: q for c, q in _quotes(text).items() if c in others}
    assert shown == _expected(product, others), (
        f"{label} showed {shown}; expected the other carriers' quotes"
        f" {_expected(product, others)}."
    )


@pytest.mark.exercise("08-slow-carriers", budget="failing")
def test_a_failing_carrier_leaves_the_other_quotes_on_the_page(
    shop: Shop,
    shop_run: ShopRun,
    trusted_sql: Any,
    asgi: AsgiShop,
    carriers: CarrierService,
) -> None:
    down = CARRIERS[2]
    product = _product(shop, trusted_sql)
    _warm(asgi, carriers, product)
    carriers.configure(latency=LATENCY_SECONDS, failing=(down,))
    label = f"{_label(product)}, {down} answering 503,"
    response, _ = asgi.get(_path(product))
    site = shop_site(
        shop_run.plan.root, "shop_app/catalog/shipping.py", r"raise_for_status"
    )
    if response.status_code != 200:
        frames = FRAME.findall(response.text)
        where = f" from {frames[-1][0]}:{frames[-1][1]}" if frames else ""
        raise AssertionError(
            f"{label} answered {response.status_code}{where} (budget: 200 with"
            f" the other carriers' quotes). One carrier's error failed the"
            f" whole page. In {site}, catch `httpx.HTTPError` (and"
            " `TimeoutError`) per carrier, or gather with"
            " `return_exceptions=True`, and show the quotes that came back."
        )
    others = tuple(c for c in CARRIERS if c != down)
    shown = _quotes(response.text)
    assert shown == _expected(product, others), (
        f"{label} showed {shown}; expected the other carriers' quotes"
        f" {_expected(product, others)} and none from {down}."
    )
