"""Budgets as data and as assertions, with the exact text a learner reads."""

import pytest
from django.db import connection

from checker.budgets import (
    BudgetExceeded,
    Verdict,
    assert_within,
    check_all,
    columns_not_fetched,
    memory_at_most,
    no_duplicate_queries,
    no_seq_scan,
    queries_at_most,
    queries_constant,
    queries_exactly,
    uses_index,
)
from checker.budgets.cache import warm_hit_without_queries
from checker.growth import measure_growth
from checker.measure import measure
from checker.resources import format_bytes
from tests.checker.conftest import line_of
from tests.checker_testapp.data import library_create

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.checker_testapp.urls")]

TEMPLATE = "tests/checker_testapp/templates/checker_testapp/book_list.html"
AUTHOR_BY_ID = "SELECT ... FROM checker_testapp_author WHERE id = # LIMIT #"
INDEX_FIX = (
    "Try an index on the filtered or ordered columns (db_index=True or "
    "Meta.indexes), then ANALYZE so the planner knows the table."
)


def _get(client, path, *, memory=False):
    with measure(f"GET {path}", memory=memory) as measurement:
        assert client.get(path).status_code == 200
    return measurement


def _failure(subject, budget):
    with pytest.raises(BudgetExceeded) as raised:
        assert_within(subject, budget)
    return str(raised.value)


@pytest.fixture
def template_growth(client):
    return measure_growth(
        lambda n: library_create(books=n),
        lambda: client.get("/template/naive/"),
        sizes=(5, 10),
        noun="books",
        label="GET /template/naive/",
    )


def test_query_budget_constant_in_the_data_names_template_relation_and_fix(
    template_growth,
):
    message = _failure(template_growth, queries_at_most(4, constant_in="books"))

    assert message == (
        "GET /template/naive/ made 11 queries with 10 books and 6 with 5 books "
        "(budget: at most 4, constant in the number of books). "
        f"10 similar: {AUTHOR_BY_ID} — from {TEMPLATE}:3 via Book.author. "
        'Try select_related("author").'
    )


def test_constant_budget_is_met_by_the_fixed_page(client):
    growth = measure_growth(
        lambda n: library_create(books=n),
        lambda: client.get("/template/fixed/"),
        sizes=(5, 10),
        noun="books",
        label="GET /template/fixed/",
    )

    [verdict] = assert_within(growth, queries_at_most(4, constant_in="books"))
    assert verdict == Verdict(
        budget="at most 4, constant in the number of books",
        met=True,
        measured="1 query (1 at 5 books)",
        message="GET /template/fixed/ made 1 query with 10 books and 1 with 5 "
        "books (budget: at most 4, constant in the number of books).",
    )


def test_growth_alone_fails_even_under_the_count(template_growth):
    [verdict] = check_all(template_growth, queries_constant("books"))

    assert not verdict.met
    assert verdict.message.startswith(
        "GET /template/naive/ made 11 queries with 10 books and 6 with 5 books "
        "(budget: constant in the number of books). 10 similar: "
    )
    assert verdict.diagnosis["via"] == "Book.author"


def test_query_budget_on_one_request_points_at_the_python_line(client):
    library_create(books=6)
    message = _failure(_get(client, "/loop/naive/"), queries_at_most(4))

    origin = line_of("views.py", 'f"{book.title} by {book.author.name}" for book')
    assert message == (
        "GET /loop/naive/ made 7 queries (budget: at most 4). "
        f"6 similar: {AUTHOR_BY_ID} — from {origin} via Book.author. "
        'Try select_related("author").'
    )


def test_query_budget_for_a_fresh_query_in_a_loop_names_no_relation(client):
    library_create(books=6)
    message = _failure(_get(client, "/fresh/naive/"), queries_at_most(4))

    origin = line_of("views.py", "list(Book.objects.filter(author_id=a.pk))")
    assert message == (
        "GET /fresh/naive/ made 7 queries (budget: at most 4). 6 similar: "
        "SELECT ... FROM checker_testapp_book WHERE author_id = # — from "
        f"{origin}. Fetch these rows in one query before the loop "
        "(filter(..._in=...) or prefetch_related)."
    )


def test_exact_budget_under_the_count_lists_the_queries(client):
    library_create(books=2)
    message = _failure(_get(client, "/duplicates/fixed/"), queries_exactly(2))

    origin = line_of("views.py", 'publisher = Publisher.objects.get(name="Penguin")')
    assert message == (
        "GET /duplicates/fixed/ made 1 query (budget: exactly 2). Queries: "
        "SELECT ... FROM checker_testapp_publisher WHERE name = # LIMIT # — "
        f"from {origin}."
    )


def test_exact_budget_is_met_by_the_exact_count(client):
    library_create(books=2)
    [verdict] = assert_within(_get(client, "/loop/fixed/"), queries_exactly(1))

    assert (verdict.met, verdict.measured) == (True, "1 query")


def test_duplicate_budget_names_the_repeated_query(client):
    library_create(books=2)
    message = _failure(_get(client, "/duplicates/naive/"), no_duplicate_queries())

    origin = line_of("views.py", 'Publisher.objects.get(name="Penguin").name')
    assert message == (
        "GET /duplicates/naive/ ran 2 duplicate queries (budget: no duplicates). "
        "3 identical: SELECT ... FROM checker_testapp_publisher WHERE name = # "
        f"LIMIT # — from {origin}. Run it once and reuse the result."
    )


def test_duplicate_budget_is_met_without_repeats(client):
    library_create(books=2)
    [verdict] = assert_within(
        _get(client, "/duplicates/fixed/"), no_duplicate_queries()
    )

    assert verdict.message == (
        "GET /duplicates/fixed/ ran no query twice (budget: no duplicates)."
    )


def test_column_budget_names_the_large_column_and_the_query(client):
    library_create(books=2)
    budget = columns_not_fetched("checker_testapp_book.body")
    message = _failure(_get(client, "/columns/naive/"), budget)

    origin = line_of("views.py", "return _lines([book.title for book in Book.objects")
    assert message == (
        "GET /columns/naive/ fetched checker_testapp_book.body (budget: "
        "`checker_testapp_book.body` must not be fetched). 1 query: SELECT ... "
        f"FROM checker_testapp_book ORDER BY id ASC — from {origin}. Try only() "
        'with the fields the page shows, or defer("body").'
    )


def test_column_budget_is_met_when_only_the_shown_columns_are_read(client):
    library_create(books=2)
    budget = columns_not_fetched("checker_testapp_book.body")
    [verdict] = assert_within(_get(client, "/columns/fixed/"), budget)

    assert verdict.met


@pytest.fixture
def many_books():
    library_create(books=3000, authors=20)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE checker_testapp_book")


def test_seq_scan_budget_names_the_plan_and_the_fix(client, many_books):
    measurement = _get(client, "/title/?q=Book 42")
    message = _failure(measurement, no_seq_scan("checker_testapp_book"))

    origin = line_of("views.py", "Book.objects.filter(title=request.GET")
    assert message == (
        "GET /title/?q=Book 42 read checker_testapp_book with a sequential scan "
        "(budget: no sequential scan on checker_testapp_book). SELECT ... FROM "
        "checker_testapp_book WHERE title = # -> Seq Scan on checker_testapp_book "
        f"(est. 1 row) — from {origin}. {INDEX_FIX}"
    )


def test_index_budget_fails_on_a_seq_scan(client, many_books):
    measurement = _get(client, "/title/?q=Book 42")
    message = _failure(measurement, uses_index("book_isbn_idx"))

    assert message.startswith(
        "GET /title/?q=Book 42 did not use index book_isbn_idx (budget: uses "
        "index book_isbn_idx). Plans: SELECT ... FROM checker_testapp_book WHERE "
        "title = # -> Seq Scan on checker_testapp_book (est. 1 row)"
    )


def test_plan_budgets_are_met_by_an_indexed_lookup(client, many_books):
    measurement = _get(client, "/isbn/?q=isbn-00000042")
    verdicts = assert_within(
        measurement, uses_index("book_isbn_idx"), no_seq_scan("checker_testapp_book")
    )

    assert [verdict.met for verdict in verdicts] == [True, True]


def test_memory_budget_reports_the_peak(client):
    library_create(books=100, body="x" * 20_000)
    measurement = _get(client, "/export/naive/", memory=True)
    message = _failure(measurement, memory_at_most(mib=1))

    # At least the 100 bodies of 20,000 characters, held at once.
    assert measurement.peak_bytes > 100 * 20_000
    assert message == (
        f"GET /export/naive/ peaked at {format_bytes(measurement.peak_bytes)} of "
        "Python memory (budget: at most 1.0 MiB). Stream rows with iterator() or "
        "values_list() instead of holding every object at once."
    )


def test_memory_budget_is_met_by_streaming(client):
    library_create(books=100, body="x" * 20_000)
    measurement = _get(client, "/export/fixed/", memory=True)

    [verdict] = assert_within(measurement, memory_at_most(mib=1))
    assert verdict.met


def test_memory_budget_without_tracing_says_how_to_measure(client):
    measurement = _get(client, "/loop/fixed/", memory=False)

    assert _failure(measurement, memory_at_most(kib=512)) == (
        "GET /loop/fixed/ was measured without memory tracing (budget: at most "
        "512.0 KiB). Measure with memory=True."
    )


def test_every_unmet_budget_is_in_one_failure(client):
    library_create(books=3)
    measurement = _get(client, "/duplicates/naive/")

    with pytest.raises(BudgetExceeded) as raised:
        assert_within(measurement, queries_at_most(1), no_duplicate_queries())
    first, second = str(raised.value).split("\n\n")
    assert first.startswith("GET /duplicates/naive/ made 3 queries (budget: at most 1)")
    assert second.startswith("GET /duplicates/naive/ ran 2 duplicate queries")


def test_verdicts_carry_points_for_partial_credit(client):
    library_create(books=3)
    measurement = _get(client, "/loop/naive/")

    verdicts = check_all(
        measurement,
        queries_at_most(2).worth(3),
        no_duplicate_queries().worth(1),
    )
    assert [(v.met, v.points) for v in verdicts] == [(False, 3), (True, 1)]
    assert verdicts[0].to_dict()["diagnosis"]["fix"] == 'Try select_related("author").'


def test_a_constant_budget_needs_two_sizes(client):
    measurement = _get(client, "/loop/fixed/")

    with pytest.raises(TypeError, match="needs measure_growth"):
        check_all(measurement, queries_at_most(4, constant_in="books"))


def test_warm_budget_without_hits_names_where_the_first_query_came_from(client):
    library_create(books=2)
    message = _failure(_get(client, "/duplicates/fixed/"), warm_hit_without_queries())

    origin = line_of("views.py", 'publisher = Publisher.objects.get(name="Penguin")')
    assert message == (
        "GET /duplicates/fixed/ made 1 query with 0 cache hits (budget: 0 queries "
        "once the cache is warm). Nothing was served from the cache. Store the "
        "result once and read it back: cache.get_or_set(key, compute, timeout) for "
        "data, cache_page for a whole view, {% cache %} for a fragment. First query "
        f"from {origin}."
    )


def test_warm_budget_names_no_query_when_none_ran():
    with measure("nothing") as measurement:
        pass

    message = _failure(measurement, warm_hit_without_queries())

    assert message == (
        "nothing made 0 queries with 0 cache hits (budget: 0 queries once the "
        "cache is warm). Nothing was served from the cache. Store the result once "
        "and read it back: cache.get_or_set(key, compute, timeout) for data, "
        "cache_page for a whole view, {% cache %} for a fragment."
    )
