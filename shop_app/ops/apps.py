"""The ops app: commands that report on the shop's running services."""

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
