"""URLs of the test app's caching views (use with `pytest.mark.urls`)."""

from django.urls import path

from tests.checker_testapp import cache_views

urlpatterns = [
    path("page/", cache_views.page, name="page"),
    path("low-level/", cache_views.low_level, name="low-level"),
    path("fragment/", cache_views.fragment, name="fragment"),
    path("partly-cached/", cache_views.partly_cached, name="partly-cached"),
    path("forever/", cache_views.forever, name="forever"),
]
