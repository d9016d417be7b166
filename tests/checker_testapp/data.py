"""Build library data sets of a given size for the checker's tests."""

from __future__ import annotations

from tests.checker_testapp.models import Author, AuthorProfile, Book, Publisher, Tag


def library_create(*, books: int, authors: int | None = None, body: str = "") -> None:
    """Create `books` books, each by its own author unless `authors` is given."""
    publisher = Publisher.objects.create(name="Penguin")
    author_count = books if authors is None else authors
    author_rows = Author.objects.bulk_create(
        Author(name=f"Author {number}", publisher=publisher)
        for number in range(author_count)
    )
    AuthorProfile.objects.bulk_create(
        AuthorProfile(author=author, bio=f"Bio {author.pk}") for author in author_rows
    )
    tags = Tag.objects.bulk_create(Tag(name=f"tag-{number}") for number in range(3))
    book_rows = Book.objects.bulk_create(
        Book(
            title=f"Book {number}",
            isbn=f"isbn-{number:08d}",
            author=author_rows[number % author_count],
            body=body,
        )
        for number in range(books)
    )
    through = Book.tags.through
    through.objects.bulk_create(
        through(book_id=book.pk, tag_id=tags[book.pk % len(tags)].pk)
        for book in book_rows
    )
