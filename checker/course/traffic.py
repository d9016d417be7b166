"""`course traffic`: a bounded, realistic mix of requests over the shop's pages.

The mix is a pure function of the shop's products, brands and a seed
(`traffic_plan`), so the trusted tests of lesson 11 replay the very mix the
learner sends, on the data of the run they grade. The command sends it to a
shop already running on loopback (`runserver`, or `course stack up`), one
request after the other, and prints each endpoint's requests and time, the
busiest first: the learner's own measurement, to rank the endpoints by.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.table import Table

__all__ = [
    "MIX",
    "EndpointFigures",
    "Visit",
    "traffic_command",
    "traffic_plan",
    "traffic_run",
]

# Each endpoint's share of a block of 20 requests: visitors browse the
# products and the brands, and trade customers, who order by part number,
# look products up by the start of their SKU.
MIX: tuple[tuple[str, int], ...] = (
    ("GET /products/", 3),
    ("GET /products/<slug>/", 6),
    ("GET /categories/", 1),
    ("GET /brands/", 1),
    ("GET /brands/<slug>/", 3),
    ("GET /lookup/?sku=<prefix>", 6),
)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Gunicorn alone is asked as Nginx would ask it over TLS, so that the deploy
# settings serve the page instead of redirecting (as `course load` does).
SECURE = {"X-Forwarded-Proto": "https"}


@dataclass(frozen=True)
class Visit:
    """One request of the mix: its endpoint, and the path sent."""

    endpoint: str
    path: str


@dataclass
class EndpointFigures:
    """What one endpoint answered under the traffic, as the client timed it."""

    endpoint: str
    seconds: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def total(self) -> float:
        return sum(self.seconds)

    def percentile(self, share: float) -> float:
        """Return the time under which `share` of the requests answered."""
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _path(
    endpoint: str,
    rng: random.Random,
    products: Sequence[tuple[str, str]],
    brands: Sequence[str],
) -> str:
    if endpoint == "GET /products/<slug>/":
        return f"/products/{rng.choice(products)[0]}/"
    if endpoint == "GET /brands/<slug>/":
        return f"/brands/{rng.choice(brands)}/"
    if endpoint == "GET /lookup/?sku=<prefix>":
        # Visitors look up the newer half of the catalog, typing all but the
        # last character of a SKU, in any case: a few products match.
        newer = products[len(products) // 2 :]
        return f"/lookup/?sku={rng.choice(newer)[1][:-1].lower()}"
    return endpoint.removeprefix("GET ")


def traffic_plan(
    *,
    products: Sequence[tuple[str, str]],
    brands: Sequence[str],
    requests: int,
    seed: int = 0,
) -> list[Visit]:
    """Return `requests` visits of the mix, given the (slug, SKU) of active products.

    The products come oldest first (by id), as the shop added them.
    Every block of 20 holds each endpoint its share, in a shuffled order, so
    a short run still asks every endpoint.
    """
    if not products or not brands:
        raise ValueError(
            "the shop holds no active product or no brand to visit: run "
            "`course seed` first"
        )
    rng = random.Random(seed)
    block = [endpoint for endpoint, share in MIX for _ in range(share)]
    visits: list[Visit] = []
    while len(visits) < requests:
        order = block[:]
        rng.shuffle(order)
        for endpoint in order[: requests - len(visits)]:
            visits.append(Visit(endpoint, _path(endpoint, rng, products, brands)))
    return visits


def traffic_run(
    url: str, visits: Sequence[Visit], *, seconds: float
) -> list[EndpointFigures]:
    """Send `visits` one after the other, for `seconds` at most; time each."""
    figures: dict[str, EndpointFigures] = {}
    deadline = time.monotonic() + seconds
    headers = SECURE if url.startswith("http:") else {}
    with httpx.Client(base_url=url, headers=headers, verify=False) as client:
        for visit in visits:
            if time.monotonic() > deadline:
                break
            found = figures.setdefault(visit.endpoint, EndpointFigures(visit.endpoint))
            started = time.perf_counter()
            try:
                status = client.get(visit.path, timeout=30).status_code
            except httpx.HTTPError:
                status = 0
            found.seconds.append(time.perf_counter() - started)
            found.errors += status != 200
    return sorted(figures.values(), key=lambda f: -f.total)


def traffic_table(figures: Sequence[EndpointFigures]) -> Table:
    """Return the endpoints by total time, the busiest first."""
    table = Table("endpoint", "requests", "errors", "total s", "mean ms", "p95 ms")
    for found in figures:
        count = len(found.seconds)
        table.add_row(
            found.endpoint,
            str(count),
            str(found.errors),
            f"{found.total:.2f}",
            f"{found.total / count * 1000:.1f}",
            f"{found.percentile(0.95) * 1000:.1f}",
        )
    return table


def _shop_slugs() -> tuple[list[tuple[str, str]], list[str]]:
    from checker.django_env import setup_django

    setup_django()
    from catalog.models import Brand, Product

    products = Product.objects.filter(is_active=True).order_by("id")
    return (
        list(products.values_list("slug", "sku")),
        list(Brand.objects.order_by("id").values_list("slug", flat=True)),
    )


def traffic_command(args: argparse.Namespace, console: Console) -> int:
    """Send the mix to the shop at `--url`; print each endpoint's time."""
    host = urlsplit(args.url).hostname or ""
    if host not in LOOPBACK:
        console.print(
            f"[red]{args.url} is not on this machine: traffic goes to loopback "
            "only (127.0.0.1 or localhost).[/]"
        )
        return 2
    from checker.services import ensure_up_or_exit

    ensure_up_or_exit()
    products, brands = _shop_slugs()
    try:
        visits = traffic_plan(
            products=products, brands=brands, requests=args.requests, seed=args.seed
        )
    except ValueError as error:
        console.print(f"[red]Cannot plan the traffic: {error}.[/]")
        return 2
    try:
        httpx.get(args.url, headers=SECURE, timeout=5, verify=False)
    except httpx.TransportError:
        console.print(
            f"[red]Nothing answers at {args.url}. Start the shop first: "
            "`python shop_app/manage.py runserver`, or `course stack up` and "
            "--url http://127.0.0.1:8001.[/]"
        )
        return 2
    figures = traffic_run(args.url, visits, seconds=args.seconds)
    sent = sum(len(found.seconds) for found in figures)
    console.print(
        traffic_table(figures),
        f"{sent} requests to {args.url}, one at a time; times are this machine's,"
        " as the client saw them.",
    )
    return 1 if any(found.errors for found in figures) else 0
