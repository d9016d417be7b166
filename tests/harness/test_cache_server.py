"""Each run's Redis lets the shop cache and queue, and nothing more."""

import os
import shutil
import signal
import socket
import stat
import tempfile
import time
from pathlib import Path

import kombu
import pytest
import redis
from celery import Celery
from django_redis.cache import RedisCache

from checker.harness.cache_server import RunRedis
from checker.services import ServiceError


@pytest.fixture
def folder():
    # Not pytest's tmp_path: a Unix socket path must stay under 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="run-redis-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server(folder):
    with RunRedis(folder / "redis.sock", folder=folder) as started:
        yield started


@pytest.fixture
def shop(server):
    client = redis.Redis.from_url(server.shop_url(0))
    yield client
    client.close()


def _raw(path: Path, *commands: bytes) -> list[bytes]:
    """Send inline commands on a fresh connection; return each reply line."""
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(str(path))
        replies = []
        for command in commands:
            connection.sendall(command + b"\r\n")
            replies.append(connection.recv(4096))
        return replies


def test_the_server_starts_well_under_a_second(folder):
    server = RunRedis(folder / "redis.sock", folder=folder)

    started = time.perf_counter()
    messages = server.start()
    elapsed = time.perf_counter() - started
    server.stop()

    print(f"started in {elapsed * 1000:.1f} ms")
    assert messages == [f"Started Redis for the run on {folder / 'redis.sock'}."]
    assert elapsed < 0.5


def test_the_socket_is_open_to_every_uid_and_the_passwords_are_not(server):
    cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()

    assert stat.S_IMODE(server.socket.stat().st_mode) == 0o777
    assert stat.S_IMODE((server.folder / "redis.conf").stat().st_mode) == 0o600
    assert b"shop" not in cmdline
    assert server.shop_url(0).split(":")[2].split("@")[0].encode() not in cmdline


def test_the_shop_user_can_do_what_django_redis_does(server):
    cache = RedisCache(server.shop_url(0), {"KEY_PREFIX": "shop"})

    cache.set("page", "<html>", timeout=60)
    cache.set_many({"a": 1, "b": 2})
    assert cache.add("page", "other") is False
    assert cache.get("page") == "<html>"
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
    assert cache.incr("a") == 2
    assert cache.touch("a", 30) is True
    assert 0 < cache.ttl("a") <= 30
    assert cache.expire("b", 30) is True
    assert sorted(cache.iter_keys("*")) == ["a", "b", "page"]
    with cache.lock("report", timeout=5):
        pass
    assert cache.delete_pattern("p*") == 1
    cache.delete_many(["a", "b"])
    assert cache.has_key("a") is False
    client = cache.client.get_client()
    pipeline = client.pipeline()
    pipeline.set("x", 1).expire("x", 5).ttl("x")
    assert pipeline.execute()[0] is True


def test_django_redis_clear_and_keys_are_refused_for_they_flush_and_block(server):
    cache = RedisCache(server.shop_url(0), {})

    with pytest.raises(redis.exceptions.NoPermissionError) as cleared:
        cache.clear()
    with pytest.raises(redis.exceptions.NoPermissionError) as listed:
        cache.keys("*")

    assert str(cleared.value) == (
        "this user has no permissions to run the 'flushdb' command or its subcommand"
    )
    assert str(listed.value) == (
        "this user has no permissions to run the 'keys' command or its subcommand"
    )


def test_a_message_goes_through_the_broker_url_and_a_result_back(server):
    with kombu.Connection(server.broker_url(1)) as connection:
        queue = connection.SimpleQueue("celery")
        queue.put({"task": "report", "id": 1})
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    app = Celery(broker=server.broker_url(1), backend=server.broker_url(3))
    app.backend.store_result("task-1", 42, "SUCCESS")

    assert message.payload == {"task": "report", "id": 1}
    assert app.AsyncResult("task-1").get(timeout=5) == 42
    assert server.admin().dbsize() == 0
    assert server.denials() == []


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["FLUSHALL"], "flushall"),
        (["FLUSHDB"], "flushdb"),
        (["CONFIG", "SET", "maxmemory", "0"], "config"),
        (["CONFIG", "RESETSTAT"], "config"),
        (["KEYS", "*"], "keys"),
        (["MONITOR"], "monitor"),
        (["DEBUG", "SLEEP", "0"], "debug"),
        (["SHUTDOWN", "NOSAVE"], "shutdown"),
        (["INFO"], "info"),
        (["ACL", "LIST"], "acl"),
        (["CLIENT", "KILL", "TYPE", "normal"], "client"),
        (["SWAPDB", "0", "1"], "swapdb"),
        (["REPLICAOF", "127.0.0.1", "6379"], "replicaof"),
        (["MODULE", "LIST"], "module"),
        (["BGSAVE"], "bgsave"),
    ],
)
def test_the_shop_user_is_refused_what_would_reach_past_its_data(
    server, shop, command, name
):
    with pytest.raises(redis.exceptions.NoPermissionError) as excinfo:
        shop.execute_command(*command)

    assert str(excinfo.value) == (
        f"this user has no permissions to run the '{name}' command or its subcommand"
    )
    assert server.denials()[0]["username"] == "shop"
    assert server.admin().ping() is True


def test_a_script_is_refused_what_its_caller_is(shop):
    with pytest.raises(redis.exceptions.ResponseError) as excinfo:
        shop.eval("return redis.call('flushall')", 0)

    assert "The user executing the script can't run this command" in str(excinfo.value)


def test_only_databases_0_to_3_exist(server):
    redis.Redis.from_url(server.shop_url(3)).ping()

    with pytest.raises(redis.exceptions.ResponseError) as excinfo:
        redis.Redis.from_url(server.shop_url(4)).ping()

    assert str(excinfo.value) == "DB index is out of range"


def test_the_default_user_cannot_log_in(server):
    replies = _raw(server.socket, b"PING", b"AUTH default anything", b"AUTH nopass")

    assert replies == [
        b"-NOAUTH Authentication required.\r\n",
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    ]


def test_stats_count_one_hit_and_one_miss(server, shop):
    shop.set("present", 1)
    shop.get("present")
    shop.get("absent")

    stats = server.stats()

    assert (stats.keyspace_hits, stats.keyspace_misses) == (1, 1)
    assert (stats.calls["get"], stats.calls["set"]) == (2, 1)
    server.stats_reset()
    assert server.stats().keyspace_hits == 0


def test_a_full_server_refuses_writes_rather_than_evict(folder):
    with RunRedis(folder / "redis.sock", folder=folder, maxmemory_mib=1) as server:
        shop = redis.Redis.from_url(server.shop_url(1))
        shop.lpush("celery", "queued task")
        with pytest.raises(redis.exceptions.OutOfMemoryError) as excinfo:
            for number in range(100):
                shop.set(f"page:{number}", b"x" * 100_000)
        queued = shop.lrange("celery", 0, -1)

    assert str(excinfo.value) == ("command not allowed when used memory > 'maxmemory'.")
    assert queued == [b"queued task"]


def test_two_servers_share_nothing(folder):
    first = RunRedis(folder / "a.sock", folder=folder / "a")
    second = RunRedis(folder / "b.sock", folder=folder / "b")
    with first, second:
        redis.Redis.from_url(first.shop_url(0)).set("cart", "full")
        stolen = first.shop_url(0).replace(str(first.socket), str(second.socket))

        assert redis.Redis.from_url(second.shop_url(0)).get("cart") is None
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis.from_url(stolen, protocol=2).ping()
        assert first.pid != second.pid


def test_stop_ends_the_process_and_removes_socket_and_config(folder):
    server = RunRedis(folder / "redis.sock", folder=folder)
    server.start()
    pid = server.pid

    server.stop()
    server.stop()

    assert not server.socket.exists()
    assert not (folder / "redis.conf").exists()
    assert not Path(f"/proc/{pid}").exists()


def test_a_second_server_at_a_live_socket_is_refused(server, folder):
    second = RunRedis(server.socket, folder=folder / "second")

    with pytest.raises(ServiceError) as excinfo:
        second.start()

    assert str(excinfo.value) == (
        "Redis for the run could not start: another server already listens on "
        f"{server.socket}.\n"
        "Try: stop it, or give the run another socket path."
    )
    assert server.admin().ping() is True


def test_a_killed_servers_socket_is_named_and_removed_on_the_next_start(folder):
    killed = RunRedis(folder / "redis.sock", folder=folder)
    killed.start()
    os.kill(killed.pid, signal.SIGKILL)
    killed._process.wait()
    assert killed.socket.exists()

    again = RunRedis(folder / "redis.sock", folder=folder)
    messages = again.start()
    works = redis.Redis.from_url(again.shop_url(0)).ping()
    again.stop()

    assert works is True
    assert messages == [
        f"Found a stale socket at {folder / 'redis.sock'} (its server is gone); "
        "removed it.",
        f"Started Redis for the run on {folder / 'redis.sock'}.",
    ]


def test_the_watch_names_the_keys_each_command_read_or_wrote(server, shop):
    with server.commands_watch() as log:
        shop.set("views.product:1", "<li>")
        shop.mget("views.product:1", "views.product:2")
        pipeline = shop.pipeline()
        pipeline.get("views.product:1").expire("views.product:1", 60)
        pipeline.execute()

    assert log.pairs() == [
        ("SET", "views.product:1"),
        ("MGET", "views.product:1"),
        ("MGET", "views.product:2"),
        ("GET", "views.product:1"),
        ("EXPIRE", "views.product:1"),
    ]
    assert {command.client for command in log.commands} == {f"unix:{server.socket}"}
