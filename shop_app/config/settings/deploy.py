"""Settings for a deployment: no DEBUG, secrets and hosts from the environment."""

import os

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "Set DJANGO_SECRET_KEY to a long random value for a deployment, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SECURE_SSL_REDIRECT", "1") == "1"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
CSRF_COOKIE_SECURE = True
# TODO(lesson 9): `manage.py check --deploy` warns about the session cookie and HSTS.

# TODO(lesson 9): every request opens a new connection to PostgreSQL.
