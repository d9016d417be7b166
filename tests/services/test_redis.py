import os
import signal

import pytest
import redis

from checker.services.base import ServiceError, pid_alive, wait_until


def _client(server):
    return redis.Redis(unix_socket_path=str(server.layout.redis_socket))


def test_start_serves_redis_on_the_course_socket(redis_server):
    assert redis_server.start() == [
        f"Started Redis on {redis_server.layout.redis_socket}."
    ]
    assert _client(redis_server).ping()


def test_a_second_start_is_a_no_op(redis_server):
    redis_server.start()
    pid = redis_server.status().pid

    assert redis_server.start() == []
    assert redis_server.status().pid == pid


def test_stop_stops_the_server(redis_server):
    redis_server.start()

    assert redis_server.stop() == ["Stopped Redis."]
    assert not redis_server.status().running
    assert not redis_server.layout.redis_socket.exists()


def test_start_recovers_after_the_server_was_killed(redis_server):
    redis_server.start()
    pid = redis_server.status().pid
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(pid), timeout=10)

    messages = redis_server.start()

    assert messages[0] == (
        f"Found a stale pid file: process {pid} is gone "
        "(probably after a crash); removed it."
    )
    assert _client(redis_server).ping()


def test_start_recovers_from_a_stale_socket(redis_server):
    redis_server.layout.run.mkdir(parents=True)
    redis_server.layout.redis_socket.write_text("")

    messages = redis_server.start()

    assert messages[0] == (
        "Found a stale socket: no server behind it (probably after a crash); "
        "removed it."
    )
    assert _client(redis_server).ping()


def test_an_unwritable_log_fails_with_which_why_and_what_to_try(redis_server):
    # A folder where the log file should be makes redis-server exit at once.
    redis_server.log.mkdir(parents=True)

    with pytest.raises(ServiceError) as raised:
        redis_server.start()

    assert raised.value.service == "Redis"
    assert "set REDIS_URL to a Redis you run" in raised.value.fix
