"""Settings for this repository's own suite: the shop's test settings plus the
checker's test app, where every detector is made to fire and not to fire.

Trusted exercise tests run on the shop's `config.settings.test` alone.
"""

from config.settings.test import *  # noqa: F403
from config.settings.test import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.checker_testapp"]
