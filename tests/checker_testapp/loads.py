"""Lazy loads the checker must call an N+1, beside ones it must not."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from tests.checker_testapp.models import Author, Book


def authors_of_books_loaded_one_by_one(how: str) -> list[str]:
    """Load each book on its own, then its author: one load per object."""
    books = Book.objects.order_by("pk")
    loaders = {
        "get": lambda pk: books.get(pk=pk),
        "first": lambda pk: books.filter(pk=pk).first(),
        "last": lambda pk: books.filter(pk=pk).last(),
        "index": lambda pk: books.filter(pk=pk)[0],
    }
    load = loaders[how]
    return [load(pk).author.name for pk in books.values_list("pk", flat=True)[:2]]


def authors_of_books_in_a_loop() -> list[str]:
    """Follow the author of every book of one queryset: the N+1."""
    return [book.author.name for book in Book.objects.order_by("pk")[:2]]


def authors_of_two_books_on_two_lines() -> list[str]:
    """Follow one relation twice, from two lines: no loop, no N+1."""
    first, second = Book.objects.order_by("pk")[:2]
    return [
        first.author.name,
        second.author.name,
    ]


def first_author(request: HttpRequest) -> HttpResponse:
    """Show the first book's author: one lazy load per request."""
    books = list(Book.objects.order_by("pk"))
    return HttpResponse(books[0].author.name)


def every_author(request: HttpRequest) -> HttpResponse:
    """Show every book's author: an N+1 in one request."""
    books = Book.objects.order_by("pk")
    return HttpResponse(", ".join(book.author.name for book in books))


def book_titles_by_chunks(chunk_size: int) -> list[str]:
    """Stream authors with their books prefetched, one prefetch per chunk."""
    authors = Author.objects.prefetch_related("books").order_by("pk")
    return [
        f"{a.name}: {[b.title for b in a.books.all()]}"
        for a in authors.iterator(chunk_size=chunk_size)
    ]


def book_titles_streamed(chunk_size: int) -> list[str]:
    """Stream authors without their books: one books query per author."""
    authors = Author.objects.order_by("pk")
    return [
        f"{a.name} wrote {[b.title for b in a.books.all()]}"
        for a in authors.iterator(chunk_size=chunk_size)
    ]
