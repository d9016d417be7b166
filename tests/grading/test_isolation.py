"""Each run gets its own database, Redis databases and key prefix."""

import re
import subprocess
import sys

import psycopg
import pytest
import redis

from checker.grading.isolation import isolation_for, isolation_reset, slot_claimed
from checker.services import ServiceUrls, service_urls

EMBEDDED = ServiceUrls(
    database="postgres://postgres@/shop?host=/srv/run",
    redis="unix:///srv/run/redis.sock?db=0",
    broker="redis+socket:///srv/run/redis.sock?virtual_host=1",
    external_database=False,
    external_redis=False,
)
EXTERNAL = ServiceUrls(
    database="postgres://postgres@127.0.0.1:5432/shop",
    redis="redis://127.0.0.1:6379/0",
    broker="amqp://guest:guest@127.0.0.1:5672//",
    external_database=True,
    external_redis=True,
)


def test_embedded_services_get_a_database_and_two_redis_databases_per_slot():
    isolation = isolation_for(name="Alice Smith", number=3, slot=1, urls=EMBEDDED)

    assert (
        isolation.database_url
        == "postgres://postgres@/grade_3_alice_smith?host=/srv/run"
    )
    assert isolation.test_database == "test_grade_3_alice_smith"
    assert isolation.redis_url == "unix:///srv/run/redis.sock?db=6"
    assert isolation.broker_url == "redis+socket:///srv/run/redis.sock?virtual_host=7"
    assert isolation.key_prefix == "grade-alice_smith"


def test_external_services_keep_their_hosts_and_an_amqp_broker():
    isolation = isolation_for(name="bob", number=1, slot=0, urls=EXTERNAL)

    assert (isolation.database_url, isolation.redis_url, isolation.broker_url) == (
        "postgres://postgres@127.0.0.1:5432/grade_1_bob",
        "redis://127.0.0.1:6379/4",
        "amqp://guest:guest@127.0.0.1:5672//",
    )


def test_a_redis_broker_shared_with_the_cache_moves_to_its_own_database():
    urls = ServiceUrls(
        EXTERNAL.database,
        "redis://127.0.0.1:6379",
        "redis://127.0.0.1:6379",
        True,
        True,
    )

    isolation = isolation_for(name="bob", number=1, slot=2, urls=urls)

    assert (isolation.redis_url, isolation.broker_url) == (
        "redis://127.0.0.1:6379/8",
        "redis://127.0.0.1:6379/9",
    )


def test_parallel_slots_never_share_a_redis_database():
    isolations = [
        isolation_for(name="a", number=1, slot=slot, urls=EMBEDDED) for slot in range(6)
    ]
    used = [
        int(re.search(r"\d+$", url).group())
        for isolation in isolations
        for url in (isolation.redis_url, isolation.broker_url)
    ]

    # 0-3 hold the shop's cache and broker, the worker reports and the results.
    assert sorted(used) == list(range(4, 16))


def test_the_environment_points_the_shop_at_the_isolated_services(tmp_path):
    isolation = isolation_for(name="bob", number=1, slot=0, urls=EXTERNAL)

    env = isolation.env(tmp_path)

    assert {k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "CACHE_KEY_PREFIX")} == {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/grade_1_bob",
        "REDIS_URL": "redis://127.0.0.1:6379/4",
        "CACHE_KEY_PREFIX": "grade-bob",
    }
    assert env["MEDIA_ROOT"] == str(tmp_path / "media")


@pytest.fixture
def isolation():
    return isolation_for(name="leftover", number=99, slot=6, urls=service_urls())


def _databases(url):
    with psycopg.connect(url.replace("/grade_99_leftover", "/postgres", 1)) as db:
        return {row[0] for row in db.execute("SELECT datname FROM pg_database")}


def test_reset_drops_a_test_database_left_by_a_killed_run(isolation):
    with psycopg.connect(
        isolation.database_url.replace("/grade_99_leftover", "/postgres", 1),
        autocommit=True,
    ) as db:
        db.execute(f'CREATE DATABASE "{isolation.test_database}"')
    assert isolation.test_database in _databases(isolation.database_url)

    isolation_reset(isolation)

    assert isolation.test_database not in _databases(isolation.database_url)


def test_reset_empties_the_slots_redis_databases_and_no_other(isolation):
    cache = redis.Redis.from_url(isolation.redis_url)
    shop = redis.Redis.from_url(service_urls().redis)
    cache.set("grade-leftover:key", "stale")
    shop.set("isolation-test:kept", "1")

    isolation_reset(isolation)

    assert (cache.get("grade-leftover:key"), shop.get("isolation-test:kept")) == (
        None,
        b"1",
    )
    shop.delete("isolation-test:kept")


def test_a_run_token_keeps_two_grading_processes_databases_apart():
    first = isolation_for(name="bob", number=1, slot=0, run="a1b2c3", urls=EXTERNAL)
    second = isolation_for(name="bob", number=1, slot=0, run="d4e5f6", urls=EXTERNAL)

    assert (first.test_database, second.test_database) == (
        "test_grade_a1b2c3_1_bob",
        "test_grade_d4e5f6_1_bob",
    )


def test_a_claimed_slot_is_not_handed_out_again_until_released():
    with slot_claimed() as first, slot_claimed() as second:
        assert first != second
    with slot_claimed() as again:
        assert again in {first, second}


def test_a_slot_held_by_another_process_is_skipped():
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from checker.grading.isolation import slot_claimed\n"
            "with slot_claimed() as slot:\n"
            "    print(slot, flush=True)\n"
            "    sys.stdin.readline()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        held = int(holder.stdout.readline())
        with slot_claimed() as mine:
            assert mine != held
    finally:
        holder.communicate("\n", timeout=30)
