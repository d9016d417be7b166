"""Middleware of the kind a project adds around its views."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from tests.checker_testapp.models import Author


class PassThrough:
    """Call the next handler, as a timing or metrics middleware does."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


class AuthorsCounted:
    """Run a query of its own before the view, as a middleware may."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.authors = Author.objects.count()  # type: ignore[attr-defined]
        return self.get_response(request)
