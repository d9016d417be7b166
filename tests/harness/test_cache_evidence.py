"""Cache evidence is what the run's Redis counted and kept, whatever the shop says."""

import shutil
import tempfile
from pathlib import Path

import pytest
import redis

from checker.budgets import check_all
from checker.budgets.cache import keys_expire, warm_hit_without_queries
from checker.harness.cache_evidence import cache_warm, cache_written
from checker.harness.cache_server import RunRedis
from checker.harness.evidence import EvidenceMeasurement
from checker.harness.shop import Page, Shop

# django-redis spells a key as <KEY_PREFIX>:<version>:<key>; the run's
# prefix is "run".
PAGE = "run:1:product-page:lamp"


class _NoStatements:
    def mark(self):
        return 0

    def received(self, since):
        return []


@pytest.fixture
def server():
    # Not pytest's tmp_path: a Unix socket path must stay under 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="run-redis-"))
    with RunRedis(folder / "redis.sock", folder=folder) as started:
        yield started
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def shop(server):
    # Only the Redis side of a shop: the reads below talk to Redis directly.
    return Shop(
        process=None,
        channel=None,
        statements=_NoStatements(),
        truncate=lambda: None,
        rows_count=lambda rows: 0,
        redis=server,
    )


@pytest.fixture
def client(server):
    connection = redis.Redis.from_url(server.shop_url(0))
    yield connection
    connection.close()


def _page_read(client):
    def read():
        if client.get(PAGE) is None:
            client.set(PAGE, b"<html>", px=600_000)

    return read


def test_a_warm_read_counts_the_hits_redis_counted_on_keys_the_first_read_wrote(
    shop, client
):
    warm = cache_warm(shop, _page_read(client), label="The second GET /lamp/")

    data = warm.cache.to_dict()
    assert (data["hits"], data["misses"]) == (1, 0)
    [operation] = data["operations"]
    assert operation["method"] == "get"
    assert operation["keys"] == ["product-page:lamp"]
    assert operation["family"] == "low-level"
    assert operation["hits"] == 1
    assert [v.met for v in check_all(warm, warm_hit_without_queries())] == [True]


def test_a_hit_on_a_key_the_first_read_did_not_write_counts_for_nothing(
    shop, server, client
):
    server.admin().set("run:1:elsewhere", b"x", px=600_000)

    warm = cache_warm(
        shop, lambda: client.get("run:1:elsewhere"), label="The second GET /"
    )

    data = warm.cache.to_dict()
    assert data["hits"] == 0
    assert data["redis_info"]["run"]["keyspace_hits"] == 1
    [verdict] = check_all(warm, warm_hit_without_queries())
    assert verdict.message.startswith(
        "The second GET / made 0 queries with 0 cache hits (budget: 0 queries once "
        "the cache is warm). Nothing was served from the cache."
    )


def test_fragment_keys_are_named_by_their_family(shop, client):
    key = "run:1:template.cache.category_links.d41d8cd98f00b204e9800998ecf8427e"

    def read():
        if client.get(key) is None:
            client.set(key, b"<p>", px=600_000)

    warm = cache_warm(shop, read, label="The second GET /products/")

    [operation] = warm.cache.to_dict()["operations"]
    assert (operation["family"], operation["hits"]) == ("fragment", 1)


def test_each_key_written_carries_its_lifetime_as_the_server_keeps_it(
    shop, server, client
):
    def read():
        client.set("run:1:sales:by-category", b"[]", px=60_000)
        client.set("run:1:sales:bestsellers", b"[]")
        # The broker's database holds queues, not cache entries.
        redis.Redis.from_url(server.shop_url(1)).set("queue", b"task")

    written = cache_written(shop, read, label="Two calls of sales()")

    timeouts = {
        op["keys"][0]: op["timeout"]
        for op in written.cache.to_dict()["operations"]
        if op["write"]
    }
    assert timeouts.keys() == {"sales:by-category", "sales:bestsellers"}
    assert 59 <= timeouts["sales:by-category"] <= 60
    assert timeouts["sales:bestsellers"] is None
    [verdict] = check_all(written, keys_expire())
    assert verdict.message == (
        "Two calls of sales() stored 1 cache key that never expires (budget: every "
        "cache key has a timeout). set(`sales:bestsellers`) (low-level) was written "
        "with timeout=None. Pass a timeout in seconds so that an entry missed by "
        "invalidation ages out."
    )


def test_a_key_deleted_after_it_was_written_is_not_kept_for_ever(shop, client):
    def read():
        client.set(PAGE, b"<html>")
        client.delete(PAGE)

    written = cache_written(shop, read, label="GET /lamp/")

    assert [v.met for v in check_all(written, keys_expire())] == [True]


def test_the_shops_report_lends_lines_and_its_counts_give_way_to_the_servers(
    shop, client
):
    reported = {
        "operations": [
            {
                "keys": ["product-page:lamp"],
                "method": "get",
                "write": False,
                "call_site": "shop_app/catalog/views.py:46",
            }
        ],
        "hits": 3,
        "misses": 0,
        "errors": [],
    }

    def read():
        client.get(PAGE)
        return Page(
            200, {}, b"", EvidenceMeasurement("GET /lamp/", [], reported=0), reported
        )

    written = cache_written(shop, read, label="GET /lamp/")

    [operation] = written.cache.to_dict()["operations"]
    assert operation["call_site"] == "shop_app/catalog/views.py:46"
    assert (operation["hits"], operation["misses"]) == (0, 1)
    assert shop.disagreements == [
        "GET /lamp/: the shop's own cache recorder reported 3 hits and 0 misses; "
        "Redis counted 0 hits and 1 miss, and that count stands."
    ]
