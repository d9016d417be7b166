import threading
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, connections, transaction

from checker.measure import measure
from checker.origins import ProjectCode
from checker.queries import QueryRecorder
from tests.checker.conftest import line_of
from tests.checker_testapp.data import library_create
from tests.checker_testapp.models import Book, Tag

pytestmark = pytest.mark.django_db

HERE = "tests/checker/test_queries.py"


def _line(snippet):
    for number, line in enumerate(Path(__file__).read_text().splitlines(), start=1):
        if snippet in line and "_line(" not in line:
            return f"{HERE}:{number}"
    raise LookupError(snippet)


def test_records_sql_params_alias_and_duration_without_debug(settings):
    settings.DEBUG = False
    with QueryRecorder() as recorder:
        list(Tag.objects.filter(name="x"))

    [query] = recorder.queries
    assert query.alias == "default"
    assert query.sql.startswith('SELECT "checker_testapp_tag"."id"')
    assert query.params == ("x",)
    assert query.duration > 0
    assert (query.many, query.transaction, query.error) == (False, False, None)


def test_records_beyond_djangos_debug_cap_of_9000():
    with QueryRecorder() as recorder, connection.cursor() as cursor:
        for _ in range(9100):
            cursor.execute("SELECT 1")

    assert len(recorder.queries) == 9100


def test_wraps_every_configured_alias():
    with QueryRecorder() as recorder:
        installed = [
            recorder in connections[alias].execute_wrappers for alias in connections
        ]

    assert installed == [True] * len(list(connections))
    assert all(recorder not in connections[a].execute_wrappers for a in connections)


def test_transaction_statements_are_flagged_and_left_out_of_the_count():
    with measure(memory=False) as measurement, transaction.atomic():
        Tag.objects.create(name="x")

    assert [q.transaction for q in measurement.queries] == [True, False, True]
    assert measurement.query_count == 1


def test_executemany_is_recorded_as_one_query_marked_many():
    with QueryRecorder() as recorder, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO checker_testapp_tag (name) VALUES (%s)", [("a",), ("b",)]
        )

    [query] = recorder.queries
    assert query.many
    assert query.params == [("a",), ("b",)]


def test_a_failing_query_is_recorded_with_its_error_and_still_raises():
    with (
        QueryRecorder() as recorder,
        pytest.raises(DatabaseError),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT * FROM no_such_table")

    [failed] = [query for query in recorder.queries if not query.transaction]
    assert failed.error.startswith("ProgrammingError: relation")


def test_frame_is_none_when_no_project_code_ran_the_query():
    with QueryRecorder() as recorder:
        list(Tag.objects.all())

    assert recorder.queries[0].frame is None
    assert recorder.queries[0].origin is None


def test_project_roots_are_configurable():
    project = ProjectCode(roots=("tests/checker",))
    with QueryRecorder(project=project) as recorder:
        list(Tag.objects.all())  # the line to find

    assert str(recorder.queries[0].frame) == _line("# the line to find")


def test_the_first_project_frame_is_the_innermost(client):
    library_create(books=2)
    with QueryRecorder() as recorder:
        from tests.checker_testapp.views import loop_naive

        loop_naive(None)

    assert {str(q.frame) for q in recorder.queries} == {
        line_of("views.py", 'f"{book.title} by {book.author.name}" for book in books')
    }


def test_queries_from_another_thread_are_not_seen():
    def other_thread():
        list(Tag.objects.all())
        connections.close_all()

    with QueryRecorder() as recorder:
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()

    assert recorder.queries == []


def test_to_dict_is_plain_data():
    library_create(books=1)
    with QueryRecorder() as recorder:
        Book.objects.get(isbn="isbn-00000000")

    data = recorder.queries[0].to_dict()
    assert data["params"] == ["isbn-00000000"]
    assert data["normalised"].endswith("WHERE checker_testapp_book.isbn = # LIMIT #")
