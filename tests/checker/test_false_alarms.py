"""One measurement calls an N+1 only on evidence: one relation, one call site,
rows of one queryset, one request; iterator()'s chunked prefetches are none."""

import pytest

from checker.budgets.queries import describe_group
from checker.growth import measure_growth
from checker.measure import measure
from tests.checker.conftest import line_of
from tests.checker_testapp import loads
from tests.checker_testapp.data import library_create

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.checker_testapp.urls")]

AUTHOR_BY_ID = "SELECT ... FROM checker_testapp_author WHERE id = # LIMIT #"
BOOKS_OF_AUTHORS = "SELECT ... FROM checker_testapp_book WHERE author_id IN (#)"
LOOP_FIX = (
    "Fetch these rows in one query before the loop (filter(..._in=...) or"
    " prefetch_related)."
)


@pytest.fixture
def library():
    library_create(books=5)


def _author_groups(measurement):
    return [g for g in measurement.similar() if "checker_testapp_author " in g.short]


@pytest.mark.parametrize("how", ["get", "first", "last", "index"])
def test_an_object_loaded_on_its_own_is_not_blamed_for_an_n_plus_one(library, how):
    with measure(memory=False) as measurement:
        loads.authors_of_books_loaded_one_by_one(how)

    [group] = _author_groups(measurement)
    assert group.access is None
    assert describe_group(group) == (
        f"2 similar: {AUTHOR_BY_ID} — from "
        + line_of("loads.py", "return [load(pk).author.name for pk in")
        + f". {LOOP_FIX}"
    )


def test_rows_of_one_queryset_followed_in_a_loop_are_an_n_plus_one(library):
    with measure(memory=False) as measurement:
        loads.authors_of_books_in_a_loop()

    [group] = _author_groups(measurement)
    assert describe_group(group) == (
        f"2 similar: {AUTHOR_BY_ID} — from "
        + line_of("loads.py", "return [book.author.name for book in Book")
        + ' via Book.author. Try select_related("author").'
    )


def test_one_relation_followed_on_two_lines_is_not_blamed(library):
    with measure(memory=False) as measurement:
        loads.authors_of_two_books_on_two_lines()

    [group] = _author_groups(measurement)
    assert group.access is None
    assert describe_group(group) == (
        f"2 similar: {AUTHOR_BY_ID} — from "
        + line_of("loads.py", "first.author.name,")
        + f". {LOOP_FIX}"
    )


def test_one_load_in_each_of_two_requests_is_not_blamed(client, library):
    with measure(memory=False) as measurement:
        client.get("/first-author/")
        client.get("/first-author/")

    [group] = _author_groups(measurement)
    assert [query.request for query in group.queries] == [1, 2]
    assert group.access is None


def test_an_n_plus_one_within_one_of_two_requests_is_blamed(client, library):
    with measure(memory=False) as measurement:
        client.get("/first-author/")
        client.get("/every-author/")

    [group] = _author_groups(measurement)
    assert group.count == 6
    assert len(group.suspects) == 5
    assert describe_group(group) == (
        f"6 similar: {AUTHOR_BY_ID} — from "
        + line_of("loads.py", 'return HttpResponse(", ".join(book.author.name')
        + ' via Book.author. Try select_related("author").'
    )


def _grown_by_chunks(scenario):
    return measure_growth(
        lambda n: library_create(books=n),
        scenario,
        sizes=(4, 8),
        noun="authors",
    )


def test_prefetches_per_chunk_of_an_iterator_are_not_an_n_plus_one():
    growth = _grown_by_chunks(lambda: loads.book_titles_by_chunks(2))

    assert growth.counts == (3, 5)
    assert not growth.grows
    assert growth.grown_groups() == []
    assert growth.verdict == (
        "constant in the number of authors but for one prefetch per chunk of iterator()"
    )
    [chunks] = growth.large.similar()
    assert (chunks.count, chunks.short, chunks.access) == (4, BOOKS_OF_AUTHORS, None)


def test_per_row_loads_through_an_iterator_are_an_n_plus_one():
    growth = _grown_by_chunks(lambda: loads.book_titles_streamed(2))

    assert growth.counts == (5, 9)
    assert growth.verdict == "grows with the number of authors (~1 per row)"
    [(group, before)] = growth.grown_groups()
    assert before == 4
    assert describe_group(group) == (
        "8 similar: SELECT ... FROM checker_testapp_book WHERE author_id = # — from "
        + line_of("loads.py", 'f"{a.name} wrote {[b.title for b in a.books.all()]}"')
        + ' via Author.books. Try prefetch_related("books").'
    )
