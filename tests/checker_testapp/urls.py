"""URLs of the checker's test app, used with `@pytest.mark.urls`."""

from django.urls import path

from tests.checker_testapp import loads, views
from tests.checker_testapp.admin import fixed_site, naive_site

urlpatterns = [
    path("admin-naive/", naive_site.urls),
    path("admin-fixed/", fixed_site.urls),
    path("api/naive/", views.BooksNaive.as_view()),
    path("api/fixed/", views.BooksFixed.as_view()),
    path("generic/naive/", views.BooksGenericNaive.as_view()),
    path("generic/fixed/", views.BooksGenericFixed.as_view()),
    path("isbn/", views.by_isbn),
    path("title/", views.by_title),
    path("first-author/", loads.first_author),
    path("every-author/", loads.every_author),
]
for name in (
    "loop",
    "template",
    "deferred",
    "reverse",
    "m2m",
    "profile",
    "count",
    "filtered",
    "fresh",
    "duplicates",
    "columns",
    "export",
):
    urlpatterns += [
        path(f"{name}/naive/", getattr(views, f"{name}_naive")),
        path(f"{name}/fixed/", getattr(views, f"{name}_fixed")),
    ]
