"""Views that make the checker's detectors fire (naive) or stay quiet (fixed)."""

from django.db.models import Count, Prefetch
from django.db.models.functions import Length
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.checker_testapp.models import Author, Book, Publisher
from tests.checker_testapp.serializers import BookSerializer


def _lines(lines: list[str]) -> HttpResponse:
    return HttpResponse("\n".join(lines), content_type="text/plain")


def loop_naive(request: HttpRequest) -> HttpResponse:
    books = Book.objects.order_by("pk")
    return _lines([f"{book.title} by {book.author.name}" for book in books])


def loop_fixed(request: HttpRequest) -> HttpResponse:
    books = Book.objects.select_related("author").order_by("pk")
    return _lines([f"{book.title} by {book.author.name}" for book in books])


def template_naive(request: HttpRequest) -> HttpResponse:
    books = Book.objects.order_by("pk")
    return render(request, "checker_testapp/book_list.html", {"books": books})


def template_fixed(request: HttpRequest) -> HttpResponse:
    books = Book.objects.select_related("author").order_by("pk")
    return render(request, "checker_testapp/book_list.html", {"books": books})


class BooksNaive(APIView):
    def get(self, request: Request) -> Response:
        books = Book.objects.order_by("pk")
        return Response(BookSerializer(books, many=True).data)


class BooksFixed(APIView):
    def get(self, request: Request) -> Response:
        books = Book.objects.select_related("author").order_by("pk")
        return Response(BookSerializer(books, many=True).data)


def deferred_naive(request: HttpRequest) -> HttpResponse:
    books = Book.objects.defer("body").order_by("pk")
    return _lines([f"{book.title}: {len(book.body)}" for book in books])


def deferred_fixed(request: HttpRequest) -> HttpResponse:
    books = Book.objects.order_by("pk")
    return _lines([f"{book.title}: {len(book.body)}" for book in books])


def reverse_naive(request: HttpRequest) -> HttpResponse:
    authors = Author.objects.order_by("pk")
    return _lines([f"{a.name}: {[b.title for b in a.books.all()]}" for a in authors])


def reverse_fixed(request: HttpRequest) -> HttpResponse:
    authors = Author.objects.prefetch_related("books").order_by("pk")
    return _lines([f"{a.name}: {[b.title for b in a.books.all()]}" for a in authors])


def m2m_naive(request: HttpRequest) -> HttpResponse:
    books = Book.objects.order_by("pk")
    return _lines([f"{b.title}: {[t.name for t in b.tags.all()]}" for b in books])


def m2m_fixed(request: HttpRequest) -> HttpResponse:
    books = Book.objects.prefetch_related("tags").order_by("pk")
    return _lines([f"{b.title}: {[t.name for t in b.tags.all()]}" for b in books])


def profile_naive(request: HttpRequest) -> HttpResponse:
    authors = Author.objects.order_by("pk")
    return _lines([f"{author.name}: {author.profile.bio}" for author in authors])


def profile_fixed(request: HttpRequest) -> HttpResponse:
    authors = Author.objects.select_related("profile").order_by("pk")
    return _lines([f"{author.name}: {author.profile.bio}" for author in authors])


def count_naive(request: HttpRequest) -> HttpResponse:
    authors = Author.objects.order_by("pk")
    return _lines([f"{author.name}: {author.books.count()}" for author in authors])


def count_fixed(request: HttpRequest) -> HttpResponse:
    authors = Author.objects.annotate(book_count=Count("books")).order_by("pk")
    return _lines([f"{author.name}: {author.book_count}" for author in authors])


def filtered_naive(request: HttpRequest) -> HttpResponse:
    authors = Author.objects.prefetch_related("books").order_by("pk")
    return _lines(
        [f"{a.name}: {a.books.filter(title__endswith='1').count()}" for a in authors]
    )


def filtered_fixed(request: HttpRequest) -> HttpResponse:
    ones = Book.objects.filter(title__endswith="1")
    authors = Author.objects.prefetch_related(
        Prefetch("books", queryset=ones, to_attr="books_ending_in_1")
    ).order_by("pk")
    return _lines([f"{a.name}: {len(a.books_ending_in_1)}" for a in authors])


def fresh_naive(request: HttpRequest) -> HttpResponse:
    authors = Author.objects.order_by("pk")
    return _lines(
        [f"{a.name}: {list(Book.objects.filter(author_id=a.pk))}" for a in authors]
    )


def fresh_fixed(request: HttpRequest) -> HttpResponse:
    authors = list(Author.objects.order_by("pk"))
    books = Book.objects.filter(author_id__in=[author.pk for author in authors])
    by_author: dict[int, list[Book]] = {}
    for book in books:
        by_author.setdefault(book.author_id, []).append(book)
    return _lines([f"{a.name}: {by_author.get(a.pk, [])}" for a in authors])


def duplicates_naive(request: HttpRequest) -> HttpResponse:
    names = [Publisher.objects.get(name="Penguin").name for _ in range(3)]
    return _lines(names)


def duplicates_fixed(request: HttpRequest) -> HttpResponse:
    publisher = Publisher.objects.get(name="Penguin")
    return _lines([publisher.name] * 3)


def columns_naive(request: HttpRequest) -> HttpResponse:
    return _lines([book.title for book in Book.objects.order_by("pk")])


def columns_fixed(request: HttpRequest) -> HttpResponse:
    return _lines([book.title for book in Book.objects.only("title").order_by("pk")])


def by_isbn(request: HttpRequest) -> HttpResponse:
    return _lines([book.title for book in Book.objects.filter(isbn=request.GET["q"])])


def by_title(request: HttpRequest) -> HttpResponse:
    return _lines([book.isbn for book in Book.objects.filter(title=request.GET["q"])])


def export_naive(request: HttpRequest) -> HttpResponse:
    books = list(Book.objects.order_by("pk"))
    return HttpResponse(str(sum(len(book.body) for book in books)))


def export_fixed(request: HttpRequest) -> HttpResponse:
    sizes = Book.objects.annotate(size=Length("body")).values_list("size", flat=True)
    return HttpResponse(str(sum(sizes)))


class BooksGenericNaive(ListAPIView):
    queryset = Book.objects.order_by("pk")
    serializer_class = BookSerializer


class BooksGenericFixed(ListAPIView):
    queryset = Book.objects.select_related("author").order_by("pk")
    serializer_class = BookSerializer
