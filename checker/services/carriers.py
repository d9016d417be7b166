"""The shipping carriers' HTTP service: an ASGI app that Uvicorn serves.

The shop's product shipping page asks each carrier for a quote with
`GET /carriers/<name>/quote?price=<decimal>&city=<text>`. Each carrier
answers after its own latency, and one can be made slow or failing. The
service logs every request with when it started and ended, and how many were
in flight as it started, so a test sees concurrency as behaviour: a client
that asks one carrier after another never has two requests in flight.

Run it by hand with `python -m checker.services.carriers` (on the socket the
shop's settings use by default) or start it from Python with `CarrierService`.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from checker.services.asgi import (
    Receive,
    Scope,
    Send,
    ThreadedServer,
    lifespan,
    respond,
)
from checker.services.layout import Layout

__all__ = [
    "CARRIERS",
    "CarrierRequest",
    "CarrierService",
    "carriers_socket",
    "quote_compute",
]

CARRIERS = ("Parcelpost", "Swiftship", "Cargoline")
# Short enough for the test suite, long enough to see on a page's time.
LATENCY_SECONDS = 0.2


def carriers_socket(layout: Layout | None = None) -> Path:
    """Return the socket the embedded carrier service listens on by default."""
    return (layout or Layout.default()).run / "carriers.sock"


def quote_compute(*, carrier: str, price: Decimal, city: str) -> dict[str, Any]:
    """Return `carrier`'s quote for a parcel worth `price` sent to `city`."""
    rank = CARRIERS.index(carrier)
    # A made-up but stable tariff: a base fee per carrier plus 2% of the price.
    base = Decimal(4 + 2 * rank) + Decimal(len(city) % 3)
    total = (base + price * Decimal("0.02")).quantize(Decimal("0.01"))
    return {
        "carrier": carrier,
        "price": str(total),
        "days": 5 - 2 * rank + len(city) % 2,
    }


@dataclass(frozen=True)
class CarrierRequest:
    """One request the service received, and how it ended."""

    carrier: str
    started: float
    ended: float
    # Requests in flight as this one started, itself included.
    in_flight: int
    status: int


@dataclass
class _Behaviour:
    latency: float = LATENCY_SECONDS
    failing: bool = False


@dataclass
class _State:
    behaviours: dict[str, _Behaviour] = field(
        default_factory=lambda: {name: _Behaviour() for name in CARRIERS}
    )
    log: list[CarrierRequest] = field(default_factory=list)
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class CarrierService:
    """The carriers' ASGI app, served by Uvicorn on a Unix socket or a port.

    `with CarrierService(socket=path) as carriers:` serves it from a thread
    of this process until the block ends.
    """

    def __init__(
        self,
        *,
        socket: Path | None = None,
        port: int | None = None,
        latency: float = LATENCY_SECONDS,
    ) -> None:
        if (socket is None) == (port is None):
            raise ValueError("give the service a socket or a port")
        self.socket = socket
        self.port = port
        self._state = _State()
        self.configure(latency=latency)
        # A carrier answers many small requests; keep connections short.
        self._serving = ThreadedServer(
            self, name="carriers", socket=socket, port=port, timeout_keep_alive=2
        )

    # Behaviour

    def configure(
        self,
        *,
        latency: float | None = None,
        slow: dict[str, float] | None = None,
        failing: tuple[str, ...] = (),
    ) -> None:
        """Set every carrier's latency, then slow some down and make some fail."""
        with self._state.lock:
            for name, behaviour in self._state.behaviours.items():
                if latency is not None:
                    behaviour.latency = latency
                behaviour.latency = (slow or {}).get(name, behaviour.latency)
                behaviour.failing = name in failing

    def mark(self) -> int:
        """Return a position in the log, for `requests(since=...)`."""
        with self._state.lock:
            return len(self._state.log)

    def requests(self, since: int = 0) -> list[CarrierRequest]:
        """Return the requests that ended since `since`, in the order they ended."""
        with self._state.lock:
            return list(self._state.log[since:])

    @property
    def url(self) -> str:
        """Return the base URL a client uses (with the socket as its transport)."""
        return f"http://127.0.0.1:{self.port}" if self.port else "http://carriers"

    # The ASGI app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        parts = scope["path"].strip("/").split("/")
        if len(parts) != 3 or parts[0] != "carriers" or parts[2] != "quote":
            await respond(send, 404, {"error": "not found"})
            return
        carrier = parts[1]
        behaviour = self._state.behaviours.get(carrier)
        if behaviour is None:
            await respond(send, 404, {"error": f"no carrier {carrier!r}"})
            return
        query = parse_qs(scope.get("query_string", b"").decode())
        state = self._state
        with state.lock:
            state.in_flight += 1
            in_flight = state.in_flight
        started = time.monotonic()
        status, body = 500, {"error": "cancelled"}
        # The request is logged before its answer is sent: a client that has
        # read the answer finds the request in the log.
        try:
            await asyncio.sleep(behaviour.latency)
            status, body = _quote_answer(carrier, behaviour, query)
        finally:
            with state.lock:
                state.in_flight -= 1
                state.log.append(
                    CarrierRequest(
                        carrier=carrier,
                        started=started,
                        ended=time.monotonic(),
                        in_flight=in_flight,
                        status=status,
                    )
                )
        await respond(send, status, body)

    # Serving

    def __enter__(self) -> CarrierService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Serve the app from a thread; return once it accepts connections."""
        self._serving.start()

    def stop(self) -> None:
        """Stop serving and wait for the server's thread."""
        self._serving.stop()


def _quote_answer(
    carrier: str, behaviour: _Behaviour, query: dict[str, list[str]]
) -> tuple[int, dict[str, Any]]:
    if behaviour.failing:
        return 503, {"error": f"{carrier} is unavailable"}
    try:
        price = Decimal(query["price"][0])
        city = query["city"][0]
    except (KeyError, IndexError, InvalidOperation):
        return 400, {"error": "give a price and a city"}
    return 200, quote_compute(carrier=carrier, price=price, city=city)


def main(argv: list[str] | None = None) -> None:
    """Serve the carriers until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", type=Path, help="default: .course/run/")
    parser.add_argument("--port", type=int, help="serve on 127.0.0.1:PORT instead")
    parser.add_argument("--latency", type=float, default=LATENCY_SECONDS)
    parser.add_argument(
        "--slow", action="append", default=[], metavar="CARRIER=SECONDS"
    )
    parser.add_argument("--failing", action="append", default=[], metavar="CARRIER")
    options = parser.parse_args(argv)
    socket = None if options.port else options.socket or carriers_socket()
    service = CarrierService(socket=socket, port=options.port, latency=options.latency)
    slow = {name: float(s) for name, s in (o.split("=", 1) for o in options.slow)}
    service.configure(slow=slow, failing=tuple(options.failing))
    with service:
        where = socket or f"127.0.0.1:{options.port}"
        print(f"carriers {', '.join(CARRIERS)} on {where}; Ctrl-C stops")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
