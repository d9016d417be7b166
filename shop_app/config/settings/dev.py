"""Settings for a learner's machine: DEBUG and django-debug-toolbar."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import INSTALLED_APPS, MIDDLEWARE

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
INTERNAL_IPS = ["127.0.0.1"]

INSTALLED_APPS = [*INSTALLED_APPS, "debug_toolbar"]
MIDDLEWARE = ["debug_toolbar.middleware.DebugToolbarMiddleware", *MIDDLEWARE]
# The toolbar stays a tab at the page's edge until clicked, so every page
# looks as a visitor sees it.
DEBUG_TOOLBAR_CONFIG = {"SHOW_COLLAPSED": True}
