"""A small app of the checker's own, where every detector is made to fire."""

from django.apps import AppConfig


class CheckerTestappConfig(AppConfig):
    name = "tests.checker_testapp"
    label = "checker_testapp"
