"""Settings of a small blog that keeps the checker after the course."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("BLOG_SECRET_KEY", "only-for-local-development")
DEBUG = os.environ.get("BLOG_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "blog",
]

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    # Measures each request of the development server (DEBUG on) and raises
    # or logs on an N+1; it stands aside when DEBUG is off, as in tests.
    "checker.middleware.NPlusOneMiddleware",
]

ROOT_URLCONF = "blogsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BLOG_DATABASE", BASE_DIR / "db.sqlite3"),
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
USE_TZ = True

# The checker: which code is this project's (file:line in its messages are
# relative to CHECKER_PROJECT_BASE), whether an N+1 raises or warns, and the
# N+1s accepted on purpose, by Model.field and call site.
CHECKER_PROJECT_BASE = BASE_DIR
CHECKER_PROJECT_ROOTS = ["blog"]
CHECKER_NPLUSONE_MODE = os.environ.get("CHECKER_NPLUSONE_MODE", "raise")
CHECKER_NPLUSONE_ALLOW = [
    # The sidebar lists three authors with their latest post: three queries
    # that never grow, accepted rather than built into one.
    "Author.posts @ sidebar_authors",
]
