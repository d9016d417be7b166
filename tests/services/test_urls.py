from checker.services import embedded_services
from checker.services.layout import Layout
from checker.services.postgres import EmbeddedPostgres
from checker.services.urls import service_urls


def test_without_environment_every_service_is_embedded(tmp_path):
    layout = Layout(tmp_path)

    urls = service_urls(layout)

    assert urls.database == f"postgres://postgres@/shop?host={tmp_path}/run"
    assert urls.redis == f"unix://{tmp_path}/run/redis.sock?db=0"
    assert urls.broker == f"redis+socket://{tmp_path}/run/redis.sock?virtual_host=1"
    assert [s.name for s in embedded_services(layout)] == ["PostgreSQL", "Redis"]


def test_external_urls_replace_the_embedded_servers(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shop")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")

    urls = service_urls(Layout(tmp_path))

    assert urls.database == "postgres://postgres@127.0.0.1:5432/shop"
    assert urls.redis == "redis://127.0.0.1:6379/0"
    assert urls.broker == "amqp://guest:guest@127.0.0.1:5672//"
    assert embedded_services(Layout(tmp_path)) == []


def test_an_external_redis_is_the_broker_unless_one_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")

    urls = service_urls(Layout(tmp_path))

    assert urls.broker == "redis://127.0.0.1:6379/0"
    assert [type(s) for s in embedded_services(Layout(tmp_path))] == [EmbeddedPostgres]


def test_a_long_course_path_moves_sockets_to_a_short_folder(tmp_path):
    layout = Layout(tmp_path / ("deep" * 30))

    assert len(str(layout.redis_socket)) < 100
    assert layout.run != layout.home / "run"


def test_task_results_go_to_redis_database_3_of_the_course_redis(monkeypatch, tmp_path):
    assert service_urls(Layout(tmp_path)).results == (
        f"redis+socket://{tmp_path}/run/redis.sock?virtual_host=3"
    )
    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:6379/0")
    assert service_urls(Layout(tmp_path)).results == (
        "redis://:secret@127.0.0.1:6379/3"
    )
    monkeypatch.setenv("REDIS_URL", "unix:///srv/redis.sock?db=0")
    assert service_urls(Layout(tmp_path)).results == (
        "redis+socket:///srv/redis.sock?virtual_host=3"
    )


def test_a_result_backend_named_in_the_environment_is_used_as_given(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://results.example:6379/9")

    assert service_urls(Layout(tmp_path)).results == "redis://results.example:6379/9"
