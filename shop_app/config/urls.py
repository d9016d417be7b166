"""The shop's URLs: pages, the API, the admin, and the debug toolbar in dev."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="catalog:product_list")),
    path("admin/", admin.site.urls),
    path("api/", include("config.api_urls")),
    path("", include("catalog.urls")),
    path("", include("customers.urls")),
    path("", include("orders.urls")),
]

# TODO(lesson 10): nothing counts the requests the shop answers, how long each
# view takes, or the queries it makes; export them at /metrics for Prometheus.

# Uploaded images and reports; static() adds nothing unless DEBUG is on.
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

if "debug_toolbar" in settings.INSTALLED_APPS:
    urlpatterns += [path("__debug__/", include("debug_toolbar.urls"))]
