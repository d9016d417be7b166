"""One naive and one fixed loop for each way Django loads a relation lazily.

Each fixed loop applies, as typed, the fix the checker names for its naive one.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, prefetch_related_objects

from tests.checker_testapp.models import Author, AuthorProfile, Book, Note, Tag


def forward_one_to_one_naive() -> list[str]:
    return [p.author.name for p in AuthorProfile.objects.order_by("pk")]


def forward_one_to_one_fixed() -> list[str]:
    profiles = AuthorProfile.objects.select_related("author").order_by("pk")
    return [p.author.name for p in profiles]


def reverse_many_to_many_naive() -> list[int]:
    return [len(t.books.all()) for t in Tag.objects.order_by("pk")]


def reverse_many_to_many_fixed() -> list[int]:
    tags = Tag.objects.prefetch_related("books").order_by("pk")
    return [len(t.books.all()) for t in tags]


def generic_foreign_key_naive() -> list[str]:
    return [note.subject.title for note in Note.objects.order_by("pk")]


def generic_foreign_key_fixed() -> list[str]:
    notes = Note.objects.prefetch_related("subject").order_by("pk")
    return [note.subject.title for note in notes]


def generic_relation_naive() -> list[int]:
    return [len(book.notes.all()) for book in Book.objects.order_by("pk")]


def generic_relation_fixed() -> list[int]:
    books = Book.objects.prefetch_related("notes").order_by("pk")
    return [len(book.notes.all()) for book in books]


def generic_relation_count_naive() -> list[int]:
    return [book.notes.count() for book in Book.objects.order_by("pk")]


def generic_relation_count_fixed() -> list[int]:
    books = Book.objects.annotate(notes_count=Count("notes")).order_by("pk")
    return [book.notes_count for book in books]


def prefetch_per_instance_naive() -> list[int]:
    authors = list(Author.objects.order_by("pk"))
    for author in authors:
        prefetch_related_objects([author], "books")
    return [len(author.books.all()) for author in authors]


def prefetch_per_instance_fixed() -> list[int]:
    authors = Author.objects.prefetch_related("books").order_by("pk")
    return [len(author.books.all()) for author in authors]


def manager_first_naive() -> list[str]:
    return [a.books.order_by("pk").first().title for a in Author.objects.all()]


def manager_first_fixed() -> list[str]:
    ordered = Book.objects.order_by("pk")
    authors = Author.objects.prefetch_related(
        Prefetch("books", queryset=ordered, to_attr="ordered_books")
    )
    return [a.ordered_books[0].title for a in authors]


def manager_get_naive() -> list[str]:
    return [a.books.get(title__startswith="Book").isbn for a in Author.objects.all()]


def manager_get_fixed() -> list[str]:
    books = Book.objects.filter(title__startswith="Book")
    authors = Author.objects.prefetch_related(
        Prefetch("books", queryset=books, to_attr="titled_books")
    )
    return [a.titled_books[0].isbn for a in authors]


def manager_exists_naive() -> list[bool]:
    return [a.books.exists() for a in Author.objects.order_by("pk")]


def manager_exists_fixed() -> list[bool]:
    authors = Author.objects.annotate(books_count=Count("books")).order_by("pk")
    return [a.books_count > 0 for a in authors]
