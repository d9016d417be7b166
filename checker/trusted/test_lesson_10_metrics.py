"""Trusted tests of lesson 10's metrics, scraped through lesson 9's deployment.

The shop runs as lesson 9 deploys it, Gunicorn with the workers its
`gunicorn.conf.py` asks for behind Nginx, with PROMETHEUS_MULTIPROC_DIR set
to an empty folder (the stack's). The trusted side sends a known number of
HTTPS requests to Nginx from several connections at once, so several workers
answer some, then scrapes /metrics with the token METRICS_TOKEN names, and
compares the counts with the requests that reached Gunicorn (the course's
relay between Nginx and Gunicorn saw each), with the statements the run's
PostgreSQL proxy received, and with the hits and misses the run's own Redis
counted for a cold, then a warm product page.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from checker.harness.cache_server import RunRedis
from checker.harness.deployed import Deployed, deployed
from checker.harness.evidence import uncounted
from checker.harness.run import ShopRun
from checker.trusted.sites import shop_site

METRICS = "shop_app/config/metrics.py"
URLS = "shop_app/config/urls.py"
# Where a histogram is labelled, or else defined.
LABELLED = (r"\.labels\(", r"Histogram\(")
LATENCY = "shop_request_latency_seconds"
QUERIES = "shop_db_queries_total"
HITS, MISSES = "shop_cache_hits_total", "shop_cache_misses_total"
# One cold read of a product page, then warm ones: misses, then hits.
CACHE_GETS = 4
LIST_VIEW, DETAIL_VIEW = "catalog:product_list", "catalog:product_detail"
LIST_REQUESTS, DETAIL_REQUESTS = 24, 12
CONNECTIONS = 4
# Django's check of a kept connection (CONN_HEALTH_CHECKS) runs on the
# driver's connection, below every execute_wrapper().
HEALTH_CHECK = "SELECT 1"
# The first statement Django sends on a new connection.
CONNECTING = "SELECT set_config('TimeZone'"
WINDOWS = 4
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Scraped:
    """What the shop's /metrics said after the trusted side's requests."""

    status: int
    anonymous_status: int
    # (metric sample name, labels) -> value
    samples: Samples
    # The list view's queries counted by /metrics over LIST_REQUESTS
    # requests, and the statements the PostgreSQL proxy received for them.
    counted: float | None
    statements: int
    products: list[str]
    root: str
    # Requests that passed the relay to Gunicorn, by path; its workers.
    reached: dict[str, int]
    workers: int
    # The cache counters' growth over CACHE_GETS reads of `cached` (None
    # when /metrics had no such counter), and what the run's Redis counted.
    cached: str
    hits: float | None
    misses: float | None
    redis_hits: int
    redis_misses: int

    def value(self, name: str, **labels: str) -> float | None:
        return _sample(self.samples, name, **labels)

    def label_values(self, name: str, label: str) -> set[str]:
        return {
            dict(ls)[label]
            for (n, ls) in self.samples
            if n == name and label in dict(ls)
        }


def _sample(samples: Samples, name: str, **labels: str) -> float | None:
    """Return the sum of `name`'s samples with `labels`, None when there is none."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and wanted <= ls]
    return sum(found) if found else None


def _get(site: Deployed, path: str, **headers: str) -> httpx.Response:
    # Nginx passes a client's headers on: with this one, Django sees the
    # HTTPS it was asked over even where lesson 9's proxy_set_header is
    # missing, so these budgets do not depend on that exercise.
    with site.client() as client:
        return client.get(path, headers={"X-Forwarded-Proto": "https", **headers})


def _scrape(site: Deployed, token: str) -> tuple[int, Samples]:
    response = _get(site, "/metrics", Authorization=f"Bearer {token}")
    return response.status_code, (_parsed(response.text) if response.is_success else {})


def _parsed(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            samples[key] = float(sample.value)
    return samples


def _grown(before: Samples, after: Samples, name: str) -> float | None:
    if _sample(after, name) is None:
        return None
    return (_sample(after, name) or 0) - (_sample(before, name) or 0)


def _send(site: Deployed, paths: list[str]) -> list[int]:
    def one(path: str) -> int:
        return _get(site, path).status_code

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        return list(pool.map(one, paths))


@pytest.fixture(scope="module")
def scraped(shop_run: ShopRun) -> Iterator[Scraped]:
    """Deploy the shop, send the requests through Nginx, and scrape /metrics."""
    shop = shop_run.shop
    shop.reset()
    products = shop.build("catalog_make", products=3, reviews_per_product=1)
    token = secrets.token_urlsafe(16)
    # The stack sets PROMETHEUS_MULTIPROC_DIR to an empty folder of its own.
    with deployed(shop_run, env={"METRICS_TOKEN": token}, name="metrics") as site:
        workers = len(site.stack.gunicorn_workers())
        slugs = [p["slug"] for p in products]
        start = site.relay.mark()
        # Count over a window in which every worker that answers already has
        # its connection: a worker's first request also opens one, and the
        # two counts then differ by more than the middleware's work.
        for _ in range(WINDOWS):
            _send(site, ["/products/"] * (CONNECTIONS * workers))
            _, before = _scrape(site, token)
            mark = shop.statements.mark()
            _send(site, ["/products/"] * LIST_REQUESTS)
            received = shop.statements.received(mark)
            _, after = _scrape(site, token)
            if not any(q.startswith(CONNECTING) for q, _ in received):
                break
        statements = len(
            [q for q, _ in received if not uncounted(q) and q.strip() != HEALTH_CHECK]
        )
        # A cold product page, then warm ones, one after another, from an
        # empty cache, counted by the run's Redis and by the shop.
        redis = shop.redis
        assert isinstance(redis, RunRedis), "the shop under test has no Redis"
        redis.admin().flushdb()
        cached = f"/products/{slugs[0]}/"
        _, cold = _scrape(site, token)
        redis_before = redis.stats()
        for _ in range(CACHE_GETS):
            _get(site, cached)
        redis_after = redis.stats()
        _, warm = _scrape(site, token)
        details = [
            f"/products/{slugs[n % len(slugs)]}/" for n in range(DETAIL_REQUESTS)
        ]
        _send(site, details)
        anonymous = _get(site, "/metrics").status_code
        status, samples = _scrape(site, token)
        reached: dict[str, int] = {}
        for request in site.relay.requests(start):
            path = request.path.split("?", 1)[0]
            reached[path] = reached.get(path, 0) + 1
        counted = None
        if _sample(after, QUERIES, view=LIST_VIEW) is not None:
            counted = (_sample(after, QUERIES, view=LIST_VIEW) or 0) - (
                _sample(before, QUERIES, view=LIST_VIEW) or 0
            )
        root = shop_run.plan.root
        yield Scraped(
            status, anonymous, samples, counted, statements, slugs, root,
            reached, workers, cached, _grown(cold, warm, HITS),
            _grown(cold, warm, MISSES),
            redis_after.keyspace_hits - redis_before.keyspace_hits,
            redis_after.keyspace_misses - redis_before.keyspace_misses,
        )  # fmt: skip


def _site(scraped: Scraped, *patterns: str) -> str:
    """Name the line of the shop's metrics module, or of its URLs without one."""
    if (Path(scraped.root) / METRICS).is_file():
        return shop_site(scraped.root, METRICS, *patterns)
    return shop_site(scraped.root, URLS, r"TODO\(lesson 10\)", r"metrics")


def _exported(scraped: Scraped) -> None:
    site = _site(scraped, r"def metrics|generate_latest")
    if scraped.status != 200:
        raise AssertionError(
            f"GET /metrics with the scrape token (Authorization: Bearer"
            f" <METRICS_TOKEN>) answered {scraped.status}: the shop exports no"
            f" metrics (budget: a histogram {LATENCY} labelled by view, method"
            " and status). Time each request in a middleware with"
            " prometheus_client's Histogram and serve generate_latest() at"
            f" /metrics ({site})."
        )
    if scraped.value(f"{LATENCY}_count") is None:
        names = sorted({name for name, _ in scraped.samples})[:8]
        raise AssertionError(
            f"/metrics has no histogram {LATENCY} (it shows {', '.join(names)});"
            f" define it in {site}."
        )


@pytest.mark.exercise("10-metrics", budget="per-view")
def test_the_latency_histogram_has_one_series_per_view(scraped: Scraped) -> None:
    _exported(scraped)
    views = scraped.label_values(f"{LATENCY}_count", "view")
    raw = sorted(v for v in views if v.startswith("/"))
    assert not raw, (
        f"{LATENCY} is labelled by raw paths ({', '.join(raw[:3])}): one series"
        " per product, which grows with the catalogue. Label it with the URL"
        " pattern's name, request.resolver_match.view_name"
        f" ({_site(scraped, *LABELLED)})."
    )
    for view in (LIST_VIEW, DETAIL_VIEW):
        count = scraped.value(f"{LATENCY}_count", view=view, method="GET", status="200")
        assert count is not None, (
            f"{LATENCY} has no series with view={view!r}, method='GET',"
            f" status='200' (its views: {sorted(views)}). Label it with the URL"
            " pattern's name, request.resolver_match.view_name"
            f" ({_site(scraped, *LABELLED)})."
        )


@pytest.mark.exercise("10-metrics", budget="workers")
def test_the_counts_add_up_across_gunicorn_workers(scraped: Scraped) -> None:
    _exported(scraped)
    details = sum(
        n for path, n in scraped.reached.items() if path.startswith("/products/")
    ) - scraped.reached.get("/products/", 0)
    sent = {LIST_VIEW: scraped.reached.get("/products/", 0), DETAIL_VIEW: details}
    for view, requests in sent.items():
        count = scraped.value(f"{LATENCY}_count", view=view, method="GET") or 0
        assert count == requests, (
            f"{LATENCY}_count for {view} says {count:g} after {requests} requests"
            f" reached Gunicorn with {scraped.workers} workers behind Nginx"
            " (budget: exactly the requests that reached it): the scrape read"
            " the counters of the one worker that answered it."
            " Use prometheus_client's multiprocess mode: with"
            " PROMETHEUS_MULTIPROC_DIR set, serve a CollectorRegistry with a"
            " multiprocess.MultiProcessCollector at /metrics"
            f" ({_site(scraped, r'generate_latest')})."
        )


@pytest.mark.exercise("10-metrics", budget="private")
def test_metrics_refuse_an_anonymous_client(scraped: Scraped) -> None:
    _exported(scraped)
    assert scraped.anonymous_status in {401, 403}, (
        f"GET /metrics without the scrape token answered"
        f" {scraped.anonymous_status} (budget: 401 or 403): anyone can read"
        " which views the shop has and how busy each is. Answer 401 unless"
        " the request shows Authorization: Bearer <METRICS_TOKEN>"
        f" ({_site(scraped, r'def metrics')})."
    )


@pytest.mark.exercise("10-metrics", budget="db-queries")
def test_the_query_counter_matches_what_postgresql_received(scraped: Scraped) -> None:
    _exported(scraped)
    assert scraped.counted is not None, (
        f"/metrics has no counter {QUERIES} with view={LIST_VIEW!r} (budget:"
        " the database queries of each view). Count them in the middleware"
        f" with connection.execute_wrapper() ({_site(scraped, r'class ')})."
    )
    assert scraped.counted == scraped.statements, (
        f"{QUERIES} for {LIST_VIEW} grew by {scraped.counted:g} over"
        f" {LIST_REQUESTS} requests; PostgreSQL received {scraped.statements}"
        " statements for them (budget: the same number). Count every query of"
        " every connection: wrap each of connections.all() with"
        " execute_wrapper() for the whole request"
        f" ({_site(scraped, r'execute_wrapper', r'class ')})."
    )


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "es" if noun == "miss" else "s")


@pytest.mark.exercise("10-metrics", budget="cache")
def test_the_cache_counters_match_what_redis_counted(scraped: Scraped) -> None:
    seen = (
        f"run's Redis counted {_counted(scraped.redis_misses, 'miss')} and"
        f" {_counted(scraped.redis_hits, 'hit')} for {CACHE_GETS} GETs of"
        f" {scraped.cached} (one cold, then {CACHE_GETS - 1} warm)"
    )
    counters = _site(
        scraped, r"DefaultClient\)", r"CACHE_HITS|shop_cache_hits", r"Counter\("
    )
    if scraped.status != 200:
        raise AssertionError(
            f"The {seen}, and GET /metrics with the scrape token"
            f" answered {scraped.status}: nothing shows how often the cache"
            f" helps (budget: counters {HITS} and {MISSES} that grow as"
            " Redis's did). Count each read's hit or miss with prometheus_client"
            f" and serve them at /metrics ({counters})."
        )
    assert scraped.redis_hits and scraped.redis_misses, (
        f"The {seen} (budget: a miss, then hits): the product"
        " page no longer reads the cache, so the cache counters cannot be"
        " checked. Keep lesson 4's cached product page"
        f" ({shop_site(scraped.root, 'shop_app/catalog/caching.py', r'cache.get')})."
    )
    for name, counted, expected, kind in (
        (MISSES, scraped.misses, scraped.redis_misses, "misses"),
        (HITS, scraped.hits, scraped.redis_hits, "hits"),
    ):
        assert counted is not None, (
            f"/metrics has no counter {name}, while the {seen} (budget: {HITS} and"
            f" {MISSES}). Count each cache read in django-redis's client"
            f" (OPTIONS CLIENT_CLASS) ({counters})."
        )
        assert counted == expected, (
            f"{name} grew by {counted:g}, while the {seen} (budget: the same"
            f" number of {kind}). A read that returns the default is a miss: pass a"
            " private sentinel as the default and compare with it, not with"
            f" `is None`, and count every read, get_many's keys too ({counters})."
        )
