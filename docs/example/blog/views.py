from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from blog import selectors


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"{selectors.post_count()} posts", content_type="text/plain")


def post_list(request: HttpRequest) -> HttpResponse:
    context = {
        "posts": selectors.post_list(),
        "sidebar": selectors.sidebar_authors(),
    }
    return render(request, "blog/post_list.html", context)
