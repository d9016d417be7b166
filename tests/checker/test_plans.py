import pytest
from django.db import connection

from checker.measure import measure
from checker.plans import explain
from tests.checker_testapp.data import library_create
from tests.checker_testapp.models import Book, Tag

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.checker_testapp.urls")]


@pytest.fixture
def many_books():
    # Enough rows, with statistics, that the planner chooses honestly.
    library_create(books=3000, authors=20)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE checker_testapp_book")


def _plan(client, path):
    with measure(memory=False) as measurement:
        assert client.get(path).status_code == 200
    [plan] = measurement.plans()
    return plan


def test_lookup_on_an_indexed_column_uses_the_index(client, many_books):
    plan = _plan(client, "/isbn/?q=isbn-00000042")

    assert plan.uses_index("book_isbn_idx")
    assert plan.seq_scans() == []
    assert {scan.relation for scan in plan.scans} >= {"checker_testapp_book"}


def test_lookup_on_an_unindexed_column_scans_the_table(client, many_books):
    plan = _plan(client, "/title/?q=Book 42")

    assert not plan.uses_index("book_isbn_idx")
    [scan] = plan.seq_scans("checker_testapp_book")
    assert scan.node_type == "Seq Scan"
    assert scan.estimated_rows >= 1
    assert scan.actual_rows is None


def test_analyze_reports_actual_rows_and_leaves_no_trace(many_books):
    with measure(memory=False) as measurement:
        list(Book.objects.filter(title="Book 42"))
    [plan] = measurement.plans(analyze=True)

    assert plan.analyzed
    assert plan.scans[0].actual_rows == 1
    assert str(plan.scans[0]).startswith("Seq Scan on checker_testapp_book (est. ")


def test_writes_are_never_explained():
    with measure(memory=False) as measurement:
        tag = Tag.objects.create(name="x")
        Tag.objects.filter(pk=tag.pk).update(name="y")
        Tag.objects.filter(pk=tag.pk).delete()

    verbs = {
        (query.sql.split()[0], explain(query) is not None)
        for query in measurement.statements
    }
    # delete() reads the rows first; only that read is explained.
    assert verbs == {
        ("INSERT", False),
        ("UPDATE", False),
        ("SELECT", True),
        ("DELETE", False),
    }
    assert Tag.objects.filter(name="x").exists() is False


def test_similar_selects_are_explained_once(many_books):
    with measure(memory=False) as measurement:
        for number in range(3):
            list(Book.objects.filter(isbn=f"isbn-0000000{number}"))

    assert len(measurement.plans()) == 1
    assert measurement.plans()[0].to_dict()["scans"][0]["index"] == "book_isbn_idx"
