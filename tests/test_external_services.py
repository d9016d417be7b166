"""Run only when the environment names external servers, as CI's second pass does."""

import os

import pytest
import redis
from django.db import connection
from kombu import Connection

from config.celery import app


@pytest.mark.skipif("DATABASE_URL" not in os.environ, reason="DATABASE_URL is not set")
@pytest.mark.django_db
def test_django_uses_the_database_named_by_database_url():
    expected = os.environ["DATABASE_URL"].split("@", 1)[1].split("/", 1)[0]
    host, _, port = expected.partition(":")

    assert connection.settings_dict["HOST"] == host
    assert str(connection.settings_dict["PORT"]) == (port or "5432")
    with connection.cursor() as cursor:
        cursor.execute("SELECT inet_server_port()")
        assert str(cursor.fetchone()[0]) == (port or "5432")


@pytest.mark.skipif("REDIS_URL" not in os.environ, reason="REDIS_URL is not set")
def test_the_cache_uses_the_redis_named_by_redis_url(settings):
    client = redis.Redis.from_url(os.environ["REDIS_URL"])

    assert settings.CACHES["default"]["LOCATION"] == os.environ["REDIS_URL"]
    assert client.ping()


@pytest.mark.skipif(
    "CELERY_BROKER_URL" not in os.environ, reason="CELERY_BROKER_URL is not set"
)
def test_celery_reaches_the_broker_named_by_celery_broker_url():
    assert app.conf.broker_url == os.environ["CELERY_BROKER_URL"]
    with Connection(app.conf.broker_url, connect_timeout=5) as broker:
        broker.ensure_connection(max_retries=1)
        assert broker.connected
