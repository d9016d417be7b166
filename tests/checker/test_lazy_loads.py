"""Every kind of lazy load is named `Model.field`, at its line, with a fix that
removes it when typed in."""

import pytest
from django.contrib.contenttypes.models import ContentType

from checker.measure import measure
from tests.checker.conftest import line_of
from tests.checker_testapp import lazy
from tests.checker_testapp.data import library_create
from tests.checker_testapp.models import Book, Note

pytestmark = pytest.mark.django_db

BOOKS = 5
FILTERED = (
    'Try prefetch_related(Prefetch("books", queryset=..., to_attr="...")) and read'
    " the attribute; filtering a related manager queries again even when"
    " prefetched."
)

# loop, what the N+1 is attributed to, the line it comes from, the fix named
CASES = {
    "forward_one_to_one": (
        "AuthorProfile.author",
        "return [p.author.name for p in AuthorProfile",
        'Try select_related("author").',
    ),
    "reverse_many_to_many": (
        "Tag.books",
        "return [len(t.books.all()) for t in Tag",
        'Try prefetch_related("books").',
    ),
    "generic_foreign_key": (
        "Note.subject",
        "return [note.subject.title for note in Note",
        'Try prefetch_related("subject").',
    ),
    "generic_relation": (
        "Book.notes",
        "return [len(book.notes.all()) for book in Book",
        'Try prefetch_related("notes").',
    ),
    "generic_relation_count": (
        "Book.notes",
        "return [book.notes.count() for book in Book",
        'Try annotate(notes_count=Count("notes")) on the queryset.',
    ),
    "prefetch_per_instance": (
        "Author.books",
        'prefetch_related_objects([author], "books")',
        'Try prefetch_related("books").',
    ),
    "manager_first": (
        "Author.books",
        'return [a.books.order_by("pk").first().title',
        FILTERED,
    ),
    "manager_get": (
        "Author.books",
        'return [a.books.get(title__startswith="Book")',
        FILTERED,
    ),
    "manager_exists": (
        "Author.books",
        "return [a.books.exists() for a in Author",
        'Try annotate(books_count=Count("books")) on the queryset.',
    ),
}


@pytest.fixture
def library():
    library_create(books=BOOKS)
    kind = ContentType.objects.get_for_model(Book)
    Note.objects.bulk_create(
        Note(content_type=kind, object_id=book.pk, text=f"On {book.title}")
        for book in Book.objects.order_by("pk")
    )


def _measured(loop):
    with measure(memory=False) as measurement:
        loop()
    return measurement


@pytest.mark.parametrize("name", list(CASES))
def test_naive_loop_is_named_at_its_line_with_its_fix(library, name):
    via, snippet, fix = CASES[name]
    measurement = _measured(getattr(lazy, f"{name}_naive"))

    [group] = [group for group in measurement.similar() if group.access]
    assert (str(group.access), str(group.origin), group.fix()) == (
        via,
        line_of("lazy.py", snippet),
        fix,
    )
    assert len(group.suspects) >= BOOKS - 2


@pytest.mark.parametrize("name", list(CASES))
def test_fixed_loop_makes_no_n_plus_one(library, name):
    measurement = _measured(getattr(lazy, f"{name}_fixed"))

    assert [group.short for group in measurement.similar()] == []
