"""Boot the learner's shop inside the `course` process."""

from __future__ import annotations

import os
import sys

from checker.services.layout import project_root


def setup_django(settings: str = "config.settings.dev") -> None:
    """Put `shop_app/` on sys.path and call django.setup() once."""
    shop = str(project_root() / "shop_app")
    if shop not in sys.path:
        sys.path.insert(0, shop)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings)
    import django

    django.setup()
