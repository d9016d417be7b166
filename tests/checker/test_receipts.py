import json

import pytest
from django.core.cache import cache
from rich.console import Console

from checker.measure import measure
from checker.receipts import render_html, render_rich, render_text
from tests.checker.conftest import line_of
from tests.checker_testapp.data import library_create
from tests.checker_testapp.models import Book
from tests.checker_testapp.tasks import add

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.checker_testapp.urls")]


@pytest.fixture
def naive(client):
    library_create(books=3)
    with measure("GET /loop/naive/", memory=False) as measurement:
        client.get("/loop/naive/")
    return measurement


def test_receipt_is_plain_json_data(naive):
    data = json.loads(json.dumps(naive.to_dict()))

    assert data["label"] == "GET /loop/naive/"
    assert data["query_count"] == 4
    assert len(data["queries"]) == 4
    [group] = data["similar"]
    assert (group["count"], group["via"], group["fix"]) == (
        3,
        "Book.author",
        'Try select_related("author").',
    )
    assert data["resources"]["wall_ms"] > 0
    assert data["resources"]["peak_bytes"] is None


def test_text_receipt_leads_with_the_figures_and_the_repeated_queries(naive):
    lines = naive.report().splitlines()

    origin = line_of("views.py", 'f"{book.title} by {book.author.name}" for book')
    assert lines[0].startswith("GET /loop/naive/: 4 queries, ")
    assert lines[1:3] == [
        "Similar queries:",
        "  3 x SELECT ... FROM checker_testapp_author WHERE id = # LIMIT # — from "
        f'{origin} via Book.author. Try select_related("author").',
    ]
    assert lines[3] == "Queries:"
    assert len(lines) == 8


def test_saved_receipt_renders_like_the_live_one(naive):
    saved = json.loads(json.dumps(naive.to_dict()))

    assert render_text(saved) == naive.report()


def test_rich_receipt_is_a_table_of_the_same_figures(naive):
    console = Console(record=True, width=240)
    console.print(render_rich(naive.to_dict()))
    text = console.export_text()

    assert "Repeated queries" in text
    assert "Book.author" in text
    assert 'select_related("author")' in text


def test_html_receipt_escapes_sql(naive):
    with measure("list", memory=False) as measurement:
        list(Book.objects.filter(pk__lt=5))

    html = measurement._repr_html_()
    assert html.startswith("<div class='checker-receipt'>")
    assert "checker_testapp_book.id &lt; #" in html
    assert "id < #" not in html
    assert "<table>" in render_html(naive.to_dict())


def test_receipt_includes_cache_and_task_sections_when_used():
    with measure("cached", memory=False, queries=False) as measurement:
        cache.set("receipt-key", 1)
        cache.get("receipt-key")
        cache.get("receipt-missing")
        add(1, 2)

    data = measurement.to_dict()
    assert (data["cache"]["hits"], data["cache"]["misses"]) == (1, 1)
    assert len(data["tasks"]["inline"]) == 1
    text = measurement.report()
    assert "\nCache:\n  operations: 3\n  hits: 1\n  misses: 1\n" in text
    assert "\nTasks:\n  published: 0\n  inline: 1 (" in text


def test_receipt_leaves_out_empty_cache_and_task_sections(naive):
    assert "Cache:" not in naive.report()
    assert "Tasks:" not in naive.report()


def test_plans_appear_once_computed(naive):
    assert naive.to_dict()["plans"] is None
    naive.plans()

    assert len(naive.to_dict()["plans"]) == 2
    assert "Plans:" in naive.report()
    # On a handful of rows the planner may pick either scan; the receipt must
    # name the table whichever it picks.
    assert "Scan" in naive._repr_html_()
    assert "checker_testapp_author" in naive._repr_html_()
    console = Console(record=True, width=240)
    console.print(naive)
    assert "Plans" in console.export_text()
