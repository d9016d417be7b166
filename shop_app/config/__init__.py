"""The shop's project package: settings, URLs, the Celery app, WSGI and ASGI."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
