"""The shop's URLs: pages, the API, the admin, and the debug toolbar in dev."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("config.api_urls")),
    path("", include("catalog.urls")),
    path("", include("customers.urls")),
    path("", include("orders.urls")),
]

if "debug_toolbar" in settings.INSTALLED_APPS:
    urlpatterns += [path("__debug__/", include("debug_toolbar.urls"))]
