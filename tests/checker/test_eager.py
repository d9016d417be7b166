"""An eager load nothing reads is reported; one that is read is not, even a
generic relation's or a prefetch that found no rows."""

import pytest
from django.contrib.contenttypes.models import ContentType
from rich.console import Console

from checker.measure import measure
from tests.checker.conftest import line_of
from tests.checker_testapp import eager
from tests.checker_testapp.data import library_create
from tests.checker_testapp.models import Book, Note

pytestmark = pytest.mark.django_db


@pytest.fixture
def library():
    library_create(books=3)


@pytest.fixture
def notes(library):
    kind = ContentType.objects.get_for_model(Book)
    Note.objects.bulk_create(
        Note(content_type=kind, object_id=book.pk, text="A note")
        for book in Book.objects.all()
    )


def _unused(loop):
    with measure(memory=False) as measurement:
        loop()
    return [
        (str(load), str(load.origin), load.fix())
        for load in measurement.unused_eager_loads()
    ]


@pytest.mark.parametrize(
    ("loop", "snippet", "via", "fix"),
    [
        (
            "titles_with_authors_joined",
            'return [book.title for book in Book.objects.select_related("author")]',
            "Book.author",
            'Drop "author" from select_related(): nothing read it.',
        ),
        (
            "titles_with_tags_prefetched",
            'return [book.title for book in Book.objects.prefetch_related("tags")]',
            "Book.tags",
            'Drop "tags" from prefetch_related(): nothing read it.',
        ),
        (
            "authors_with_publishers_joined",
            "return [book.author.name for book in books]",
            "Author.publisher",
            'Drop "author__publisher" from select_related(): nothing read it.',
        ),
    ],
)
def test_an_eager_load_never_read_is_reported_with_its_line(
    library, loop, snippet, via, fix
):
    assert _unused(getattr(eager, loop)) == [(via, line_of("eager.py", snippet), fix)]


@pytest.mark.parametrize(
    "loop",
    [
        "authors_joined_and_read",
        "tags_prefetched_and_read",
        "notes_prefetched_and_read",
        "subjects_prefetched_and_read",
    ],
)
def test_an_eager_load_that_is_read_is_not_reported(notes, loop):
    assert _unused(getattr(eager, loop)) == []


def test_a_prefetch_read_that_found_no_rows_is_not_reported(library):
    assert not Note.objects.exists()

    assert _unused(eager.notes_prefetched_and_read) == []


def test_a_queryset_that_loads_no_rows_registers_nothing():
    assert _unused(eager.titles_with_authors_joined) == []


def test_the_receipt_lists_the_eager_load_never_read(library):
    with measure(memory=False) as measurement:
        eager.titles_with_tags_prefetched()

    where = line_of("eager.py", 'Book.objects.prefetch_related("tags")]')
    assert (
        'Eager loads never read:\n  Book.tags: prefetch_related("tags") at '
        f'{where}. Drop "tags" from prefetch_related(): nothing read it.'
    ) in measurement.report()


def test_the_rich_and_html_receipts_list_the_eager_load_never_read(library):
    with measure(memory=False) as measurement:
        eager.titles_with_tags_prefetched()

    where = line_of("eager.py", 'Book.objects.prefetch_related("tags")]')
    console = Console(record=True, width=240)
    console.print(measurement)
    text = console.export_text()
    assert "Eager loads never read" in text
    assert f'Book.tags │ prefetch_related("tags") │ {where} │ Drop "tags"' in text
    assert (
        "<p>Eager loads never read</p><table><thead><tr><th>relation</th>"
        "<th>loaded by</th><th>at</th><th>fix</th></tr></thead><tbody><tr>"
        "<td>Book.tags</td><td>prefetch_related(&quot;tags&quot;)</td>"
        f"<td>{where}</td><td>Drop &quot;tags&quot; from prefetch_related():"
        " nothing read it.</td></tr></tbody></table>"
    ) in measurement._repr_html_()


def test_the_rich_and_html_receipts_leave_out_eager_loads_that_were_read(library):
    with measure(memory=False) as measurement:
        eager.authors_joined_and_read()

    console = Console(record=True, width=240)
    console.print(measurement)
    assert "Eager loads never read" not in console.export_text()
    assert "Eager loads never read" not in measurement._repr_html_()
