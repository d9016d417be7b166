import pytest
from django.core.cache import cache

from checker.measure import measure, observe_measurements
from tests.checker_testapp.data import library_create
from tests.checker_testapp.models import Book, Tag
from tests.checker_testapp.tasks import add

pytestmark = pytest.mark.django_db


def test_one_block_records_queries_cache_tasks_time_and_memory():
    with measure("everything") as measurement:
        list(Tag.objects.all())
        cache.get("measure-missing")
        add(2, 3)

    assert measurement.query_count == 1
    assert (measurement.cache.hits, measurement.cache.misses) == (0, 1)
    assert len(measurement.tasks.inline) == 1
    assert measurement.wall_time > 0
    assert measurement.peak_bytes > 0


def test_each_part_can_be_left_out():
    with measure(queries=False, cache=False, tasks=False, memory=False) as m:
        list(Tag.objects.all())
        cache.get("measure-missing")

    assert (m.recorder, m.cache, m.tasks, m.peak_bytes) == (None, None, None, None)
    assert m.query_count == 0
    assert m.wall_time > 0


def test_nested_measurements_both_see_the_inner_queries():
    with measure(memory=False) as outer:
        list(Tag.objects.all())
        with measure(memory=False) as inner:
            list(Book.objects.all())

    assert (outer.query_count, inner.query_count) == (2, 1)


def test_observers_get_the_measurement_even_when_the_block_fails():
    seen = []
    with (
        observe_measurements(seen.append),
        pytest.raises(ZeroDivisionError),
        measure("failing", memory=False),
    ):
        list(Tag.objects.all())
        1 / 0  # noqa: B018

    assert [(m.label, m.query_count) for m in seen] == [("failing", 1)]


def test_fetching_finds_the_selects_reading_a_column():
    library_create(books=1)
    with measure(memory=False) as measurement:
        list(Book.objects.only("title"))
        list(Book.objects.all())

    assert len(measurement.fetching("checker_testapp_book.body")) == 1
    assert len(measurement.fetching("checker_testapp_book.title")) == 2
    assert len(measurement.fetching("body")) == 1
    assert measurement.fetching("checker_testapp_author.body") == []


def test_repr_names_the_label_and_count():
    with measure("GET /x/", memory=False) as measurement:
        list(Tag.objects.all())

    assert repr(measurement) == "<Measurement GET /x/: 1 queries>"
