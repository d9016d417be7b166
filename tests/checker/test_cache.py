"""The cache recorder on the real Redis (and local memory): hits, misses, families."""

import copy
import uuid

import pytest
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django_redis.cache import RedisCache

from checker.budgets import BudgetExceeded, assert_within
from checker.budgets.cache import (
    cache_hits_at_least,
    cache_misses_at_most,
    keys_expire,
    no_cache_errors,
    warm_hit_without_queries,
)
from checker.cache import CacheRecorder, key_family, redis_info
from checker.services.layout import Layout
from checker.services.redis import EmbeddedRedis
from tests.checker_testapp import cache_views

pytestmark = pytest.mark.services


def _caches_with(**aliases):
    configured = copy.deepcopy(settings.CACHES)
    configured["default"]["KEY_PREFIX"] = f"checker-{uuid.uuid4().hex[:8]}"
    return {**configured, **aliases}


@pytest.fixture
def fresh_cache():
    """Give the default cache a key prefix of its own, emptied afterwards."""
    with override_settings(CACHES=_caches_with()):
        yield cache
        cache.delete_pattern("*")


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    """Run a Redis server no other client talks to, so INFO counts only ours."""
    server = EmbeddedRedis(Layout(tmp_path_factory.mktemp("redis")))
    server.start()
    yield f"unix://{server.layout.redis_socket}?db=0"
    server.stop()


def test_a_get_of_a_stored_key_counts_as_a_hit(fresh_cache):
    fresh_cache.set("colour", "blue")
    with CacheRecorder() as recorder:
        assert fresh_cache.get("colour") == "blue"
    assert (recorder.hits, recorder.misses) == (1, 0)
    assert recorder.operations[0].method == "get"
    assert recorder.operations[0].keys == ["colour"]


def test_a_get_of_a_missing_key_counts_as_a_miss(fresh_cache):
    with CacheRecorder() as recorder:
        assert fresh_cache.get("colour") is None
    assert (recorder.hits, recorder.misses) == (0, 1)


def test_a_cached_none_counts_as_a_hit(fresh_cache):
    fresh_cache.set("nothing", None)
    with CacheRecorder() as recorder:
        assert fresh_cache.get("nothing") is None
    assert (recorder.hits, recorder.misses) == (1, 0)


def test_a_get_with_a_default_on_a_missing_key_is_a_miss_returning_the_default(
    fresh_cache,
):
    with CacheRecorder() as recorder:
        assert fresh_cache.get("colour", "grey") == "grey"
    assert (recorder.hits, recorder.misses) == (0, 1)


def test_get_many_counts_each_key_found_as_a_hit_and_each_other_as_a_miss(
    fresh_cache,
):
    fresh_cache.set_many({"a": 1, "b": None})
    with CacheRecorder() as recorder:
        found = fresh_cache.get_many(["a", "b", "c"])
    assert found == {"a": 1, "b": None}
    assert (recorder.hits, recorder.misses) == (2, 1)
    assert len(recorder.operations) == 1


def test_get_or_set_is_one_operation_counted_by_its_first_lookup(fresh_cache):
    with CacheRecorder() as recorder:
        assert fresh_cache.get_or_set("total", lambda: 42, 60) == 42
        assert fresh_cache.get_or_set("total", lambda: 0, 60) == 42
    assert [op.method for op in recorder.operations] == ["get_or_set", "get_or_set"]
    assert [(op.hits, op.misses) for op in recorder.operations] == [(0, 1), (1, 0)]


def test_the_local_memory_backend_is_recorded_with_the_same_rules():
    local = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    with override_settings(CACHES=_caches_with(local=local)):
        caches["local"].set("nothing", None)
        with CacheRecorder() as recorder:
            caches["local"].get("nothing")
            caches["local"].get("missing", 0)
            caches["local"].get_many(["nothing", "missing"])
        caches["local"].clear()
    assert [op.alias for op in recorder.operations] == ["local"] * 3
    assert [(op.hits, op.misses) for op in recorder.operations] == [
        (1, 0),
        (0, 1),
        (1, 1),
    ]


def test_writes_record_the_timeout_they_give_the_key(fresh_cache):
    with CacheRecorder() as recorder:
        fresh_cache.set("default", 1)
        fresh_cache.set("short", 1, 5)
        fresh_cache.set("forever", 1, timeout=None)
        fresh_cache.get("short")
    assert [(op.write, op.timeout) for op in recorder.operations] == [
        (True, 300),
        (True, 5),
        (True, None),
        (False, None),
    ]


@pytest.mark.django_db
def test_each_operation_names_the_project_line_that_made_it(fresh_cache):
    with CacheRecorder() as recorder:
        cache_views.user_create(username="ada")
        fresh_cache.get("colour")
    # Code outside shop_app/ and the test app (this test) is not a call site.
    assert [op.call_site for op in recorder.operations] == [
        "tests/checker_testapp/cache_views.py:26",
        None,
    ]


@pytest.mark.django_db
@pytest.mark.urls("tests.checker_testapp.cache_urls")
@pytest.mark.parametrize(
    ("url", "family", "site"),
    [
        ("/page/", "page", None),
        ("/fragment/", "fragment", "tests/checker_testapp/cache_views.py:45"),
        ("/low-level/", "low-level", "tests/checker_testapp/cache_views.py:38"),
    ],
)
def test_keys_are_tagged_page_fragment_or_low_level_with_their_call_site(
    fresh_cache, client, url, family, site
):
    with CacheRecorder() as recorder:
        client.get(url)
        client.get(url)
    families = {op.family for op in recorder.operations}
    assert families == {family}
    assert recorder.hits >= 1
    if site:
        assert {op.call_site for op in recorder.operations} == {site}


def test_key_families_follow_djangos_key_prefixes():
    assert key_family("views.decorators.cache.cache_page..GET.abc.def") == "page"
    assert key_family("views.decorators.cache.cache_header..abc") == "page"
    assert key_family("template.cache.sidebar.abc") == "fragment"
    assert key_family("django.contrib.sessions.cacheabc") == "session"
    assert key_family("product-list") == "low-level"


def test_redis_info_agrees_with_the_lookups_recorded(private_redis):
    isolated = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": private_redis}
    with override_settings(CACHES={"default": isolated}):
        cache.set("a", 1)
        with CacheRecorder() as recorder:
            cache.get("a")
            cache.get("b")
            cache.get_many(["a", "b", "c"])
            cache.get_or_set("d", 4)
            cache.has_key("a")
        cache.delete_many(["a", "d"])
    info = recorder.redis_info["default"]
    # get_or_set on a miss looks the key up twice on the server: miss, then hit.
    assert (info["expected_hits"], info["expected_misses"]) == (4, 4)
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (4, 4)
    assert info["agrees"] is True


def test_redis_info_reads_the_start_reply_before_the_first_call_goes_out(
    private_redis,
):
    isolated = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": private_redis}
    with override_settings(CACHES={"default": isolated}):
        with CacheRecorder() as recorder:
            counters = recorder._counters
            assert counters is not None
            assert list(counters._pending) == ["default"]
            cache.get("a")
            assert counters._pending == {}
            socket = private_redis.removeprefix("unix://").split("?")[0]
            assert counters._before["default"][0] == socket
        info = recorder.redis_info["default"]
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (0, 1)
    assert info["agrees"] is True


def test_redis_info_is_read_for_a_block_that_made_no_cache_call(private_redis):
    isolated = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": private_redis}
    with override_settings(CACHES={"default": isolated}), CacheRecorder() as recorder:
        pass
    info = recorder.redis_info["default"]
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (0, 0)
    assert info["agrees"] is True


def test_redis_info_waits_for_the_end_reply_only_when_it_is_read(private_redis):
    isolated = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": private_redis}
    with override_settings(CACHES={"default": isolated}):
        with CacheRecorder() as recorder:
            cache.get("a")
        pool = cache.client.get_client().connection_pool
        counters = recorder._counters
        assert counters is not None
        sent = counters._after["default"][1]
        assert sent is not None
        # The block ended with the INFO sent and its connection still out.
        assert sent.connection in pool._in_use_connections
        assert recorder.redis_info["default"]["keyspace_misses"] == 1
        assert sent.connection not in pool._in_use_connections


def test_an_unread_report_is_read_before_the_next_block_and_keeps_its_counts(
    private_redis,
):
    isolated = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": private_redis}
    with override_settings(CACHES={"default": isolated}):
        with CacheRecorder() as first:
            cache.get("a")
        sent = first._counters._after["default"][1]
        assert sent in redis_info._unread
        with CacheRecorder() as second:
            # The next block's start read the first block's end reply, and
            # handed its connection back to the pool.
            assert sent not in redis_info._unread
            assert sent._fields is not None
            cache.get("b")
            cache.get("c")
    # Read after the second block, the first still counts its own miss only.
    assert first.redis_info["default"]["keyspace_misses"] == 1
    assert first.redis_info["default"]["agrees"] is True
    assert second.redis_info["default"]["keyspace_misses"] == 2


def test_redis_info_disagrees_when_a_read_bypasses_the_cache_api(private_redis):
    isolated = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": private_redis}
    with (
        override_settings(CACHES={"default": isolated}),
        CacheRecorder() as recorder,
    ):
        cache.get("a")
        cache.client.get_client().get("raw-key")
    info = recorder.redis_info["default"]
    assert (info["expected_hits"], info["expected_misses"]) == (0, 1)
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (0, 2)
    assert info["agrees"] is False


@pytest.mark.parametrize(
    ("options", "ignore_setting"),
    [({"IGNORE_EXCEPTIONS": True}, False), ({}, True)],
    ids=["cache-option", "global-setting"],
)
def test_an_error_swallowed_by_ignore_exceptions_is_surfaced(
    tmp_path, options, ignore_setting
):
    dead = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"unix://{tmp_path}/no-server.sock?db=0",
        "OPTIONS": options,
    }
    with (
        override_settings(
            CACHES=_caches_with(dead=dead),
            DJANGO_REDIS_IGNORE_EXCEPTIONS=ignore_setting,
        ),
        CacheRecorder() as recorder,
    ):
        assert caches["dead"].get("colour", "grey") == "grey"
        caches["dead"].set("colour", "blue")
    assert [(e.method, e.swallowed) for e in recorder.errors] == [
        ("get", True),
        ("set", True),
    ]
    assert "ConnectionError" in recorder.errors[0].error
    assert recorder.operations[0].error == recorder.errors[0].error
    assert recorder.misses == 1


def test_an_error_not_swallowed_is_recorded_and_still_raised(tmp_path):
    dead = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"unix://{tmp_path}/no-server.sock?db=0",
    }
    with (
        override_settings(CACHES=_caches_with(dead=dead)),
        CacheRecorder() as recorder,
        pytest.raises(Exception, match="No such file"),
    ):
        caches["dead"].get("colour")
    assert [(e.method, e.swallowed) for e in recorder.errors] == [("get", False)]


def test_a_healthy_cache_records_no_errors(fresh_cache):
    with CacheRecorder() as recorder:
        fresh_cache.set("colour", "blue")
        fresh_cache.get("colour")
    assert recorder.errors == []
    assert no_cache_errors().check(recorder).met


def test_outside_a_block_the_wrapped_methods_record_nothing_and_return_the_same(
    fresh_cache,
):
    with CacheRecorder() as outer, CacheRecorder() as inner:
        fresh_cache.set("colour", "blue")
    recorded = outer.to_dict(), inner.to_dict()
    wrapped = (RedisCache.get, LocMemCache.get, BaseCache.get_or_set)
    originals = [method.__wrapped__ for method in wrapped]
    assert all(m is not o for m, o in zip(wrapped, originals, strict=True))

    assert fresh_cache.get("colour") == originals[0](fresh_cache, "colour") == "blue"
    assert fresh_cache.get("shape", "none") == "none"
    assert originals[0](fresh_cache, "shape", "none") == "none"
    assert fresh_cache.get_or_set("size", 3) == 3
    assert originals[2](fresh_cache, "size", 4) == 3
    assert (outer.to_dict(), inner.to_dict()) == recorded
    assert (outer._lookups, inner._lookups) == ({"default": [0, 0]},) * 2

    with CacheRecorder() as later:
        assert fresh_cache.get("colour") == "blue"
    assert [(op.method, op.hits) for op in later.operations] == [("get", 1)]
    assert (RedisCache.get, LocMemCache.get, BaseCache.get_or_set) == wrapped
    assert (outer.to_dict(), inner.to_dict()) == recorded


def test_to_dict_is_plain_data_with_totals_per_family(fresh_cache):
    with CacheRecorder() as recorder:
        fresh_cache.get("template.cache.sidebar.abc")
        fresh_cache.get("colour")
    data = recorder.to_dict()
    assert data["hits"] == 0
    assert data["misses"] == 2
    assert data["by_family"] == {
        "fragment": {"operations": 1, "hits": 0, "misses": 1},
        "low-level": {"operations": 1, "hits": 0, "misses": 1},
    }
    assert data["operations"][0]["family"] == "fragment"


@pytest.mark.django_db
@pytest.mark.urls("tests.checker_testapp.cache_urls")
def test_the_hits_budget_fires_on_a_cold_cache_with_the_first_miss(fresh_cache, client):
    with CacheRecorder() as recorder:
        client.get("/low-level/")
    subject = {"label": "GET /low-level/", "cache": recorder.to_dict()}
    with pytest.raises(BudgetExceeded) as raised:
        assert_within(subject, cache_hits_at_least(1))
    assert str(raised.value) == (
        "GET /low-level/ hit the cache 0 times and missed 1 time "
        "(budget: at least 1 hit). First miss: get_or_set(`checker:usernames`) "
        "(low-level) from tests/checker_testapp/cache_views.py:38. Store the "
        "result once and read it back: cache.get_or_set(key, compute, timeout) "
        "for data, cache_page for a whole view, {% cache %} for a fragment."
    )


@pytest.mark.django_db
@pytest.mark.urls("tests.checker_testapp.cache_urls")
def test_the_hits_and_misses_budgets_are_met_on_a_warm_cache(fresh_cache, client):
    client.get("/low-level/")
    with CacheRecorder() as recorder:
        client.get("/low-level/")
    verdicts = assert_within(recorder, cache_hits_at_least(1), cache_misses_at_most(0))
    assert [verdict.met for verdict in verdicts] == [True, True]
    assert verdicts[0].measured == "1 hits"


@pytest.mark.django_db
@pytest.mark.urls("tests.checker_testapp.cache_urls")
def test_the_misses_budget_fires_naming_the_fragment_missed(fresh_cache, client):
    with CacheRecorder() as recorder:
        client.get("/fragment/")
    verdict = cache_misses_at_most(0, family="fragment").check(recorder)
    assert not verdict.met
    assert verdict.message.startswith(
        "The measured code missed the cache 1 time (budget: at most 0 misses). "
        "First miss: get(`template.cache.usernames."
    )
    assert "(fragment) from tests/checker_testapp/cache_views.py:45." in (
        verdict.message
    )


@pytest.mark.django_db
@pytest.mark.urls("tests.checker_testapp.cache_urls")
@pytest.mark.parametrize("url", ["/page/", "/fragment/", "/low-level/"])
def test_a_warm_hit_makes_no_queries(fresh_cache, client, url):
    client.get(url)
    with CacheRecorder() as recorder, CaptureQueriesContext(connection) as q:
        client.get(url)
    subject = {"cache": recorder.to_dict(), "query_count": len(q)}
    verdict = warm_hit_without_queries().check(subject)
    assert verdict.met, verdict.message


@pytest.mark.django_db
@pytest.mark.urls("tests.checker_testapp.cache_urls")
def test_a_warm_hit_that_still_queries_fails_the_budget(fresh_cache, client):
    client.get("/partly-cached/")
    with CacheRecorder() as recorder, CaptureQueriesContext(connection) as q:
        client.get("/partly-cached/")
    subject = {
        "label": "GET /partly-cached/",
        "cache": recorder.to_dict(),
        "query_count": len(q),
    }
    with pytest.raises(BudgetExceeded) as raised:
        assert_within(subject, warm_hit_without_queries())
    assert str(raised.value) == (
        "GET /partly-cached/ made 1 query with 1 cache hit (budget: 0 queries once "
        "the cache is warm). The cache was hit but the database was still queried: "
        "cache the evaluated result (a list, or the rendered page), not a lazy "
        "queryset, and move every query behind the cached block."
    )


@pytest.mark.django_db
@pytest.mark.urls("tests.checker_testapp.cache_urls")
def test_the_expiry_budget_fires_on_a_key_stored_forever(fresh_cache, client):
    with CacheRecorder() as recorder:
        client.get("/forever/")
    with pytest.raises(BudgetExceeded) as raised:
        assert_within({"label": "GET /forever/", **recorder.to_dict()}, keys_expire())
    assert str(raised.value) == (
        "GET /forever/ stored 1 cache key that never expires (budget: every cache "
        "key has a timeout). set(`checker:usernames`) (low-level) from "
        "tests/checker_testapp/cache_views.py:59 was written with timeout=None. "
        "Pass a timeout in seconds so that an entry missed by invalidation ages out."
    )


@pytest.mark.django_db
@pytest.mark.urls("tests.checker_testapp.cache_urls")
def test_the_expiry_budget_is_met_when_every_key_has_a_timeout(fresh_cache, client):
    with CacheRecorder() as recorder:
        client.get("/low-level/")
        client.get("/page/")
    verdict = keys_expire().check(recorder)
    assert verdict.met
    assert verdict.measured == "0 of 3 writes never expire"


def test_the_errors_budget_names_the_swallowed_error(tmp_path):
    dead = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"unix://{tmp_path}/no-server.sock?db=0",
        "OPTIONS": {"IGNORE_EXCEPTIONS": True},
    }
    with (
        override_settings(CACHES=_caches_with(dead=dead)),
        CacheRecorder() as recorder,
    ):
        caches["dead"].get("colour")
    verdict = no_cache_errors().check(recorder)
    assert not verdict.met
    assert verdict.message == (
        "The measured code met 1 cache error (budget: no cache errors). get on "
        f"cache 'dead' raised {recorder.errors[0].error} (swallowed by "
        "IGNORE_EXCEPTIONS). Check the cache's LOCATION and that its server runs."
    )
