"""Eager loads a block reads, beside ones it fetches for nothing."""

from __future__ import annotations

from tests.checker_testapp.models import Book, Note


def titles_with_authors_joined() -> list[str]:
    return [book.title for book in Book.objects.select_related("author")]


def titles_with_tags_prefetched() -> list[str]:
    return [book.title for book in Book.objects.prefetch_related("tags")]


def authors_with_publishers_joined() -> list[str]:
    books = Book.objects.select_related("author__publisher")
    return [book.author.name for book in books]


def authors_joined_and_read() -> list[str]:
    books = Book.objects.select_related("author__publisher")
    return [f"{book.author.name}, {book.author.publisher.name}" for book in books]


def tags_prefetched_and_read() -> list[int]:
    return [len(book.tags.all()) for book in Book.objects.prefetch_related("tags")]


def notes_prefetched_and_read() -> list[int]:
    books = Book.objects.prefetch_related("notes")
    return [len(book.notes.all()) for book in books]


def subjects_prefetched_and_read() -> list[str]:
    notes = Note.objects.prefetch_related("subject")
    return [note.subject.title for note in notes]
