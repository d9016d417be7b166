"""The seeding app: the `seed_shop` command and its loader."""

from django.apps import AppConfig


class SeedingConfig(AppConfig):
    name = "seeding"
