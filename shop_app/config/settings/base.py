"""Settings shared by every environment, read from the environment.

With no DATABASE_URL, REDIS_URL or CELERY_BROKER_URL set, the shop talks to
the embedded PostgreSQL and Redis that `course services up` runs under
`.course/`.
"""

import os
from pathlib import Path

import dj_database_url

from checker.services.carriers import carriers_socket
from checker.services.urls import service_urls

BASE_DIR = Path(__file__).resolve().parents[2]

SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "django-insecure-course-only-never-use-in-production"
)
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_extensions",
    "catalog",
    "customers",
    "orders",
    "seeding",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

SERVICES = service_urls()

DATABASES = {"default": dj_database_url.parse(SERVICES.database)}

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": SERVICES.redis,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "shop"),
        "TIMEOUT": 300,
    }
}

CELERY_BROKER_URL = SERVICES.broker
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic gathers the files Nginx serves (`course stack up`).
STATIC_ROOT = Path(
    os.environ.get("STATIC_ROOT", BASE_DIR.parent / ".course" / "static")
)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR.parent / ".course" / "media"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The carriers' quote service: CARRIERS_URL, through the Unix socket
# CARRIERS_SOCKET when set; by default the course's own on its socket
# (`python -m checker.services.carriers`).
CARRIERS_URL = os.environ.get("CARRIERS_URL", "http://carriers")
CARRIERS_SOCKET = os.environ.get(
    "CARRIERS_SOCKET", "" if "CARRIERS_URL" in os.environ else str(carriers_socket())
)
# How long the page waits for one carrier before it shows the others.
CARRIERS_TIMEOUT_SECONDS = float(os.environ.get("CARRIERS_TIMEOUT_SECONDS", "1.0"))

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "shop@example.com"

REST_FRAMEWORK = {
    # TODO(lesson 6): every list endpoint returns all rows; add pagination.
    "DEFAULT_PAGINATION_CLASS": None,
}

LOGIN_URL = "/admin/login/"

# TODO(lesson 10): an exception in a view or a task reaches only the server's
# log; report it with the Sentry SDK, to the DSN in SENTRY_DSN.
