#!/usr/bin/env python
"""Run Django's command-line utility for the shop."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    from django.core.management import execute_from_command_line

    if len(sys.argv) > 1 and sys.argv[1] not in {"help", "--help", "version"}:
        # Start the embedded PostgreSQL and Redis on demand, the way every
        # `course` command does; external URLs in the environment skip this.
        # The dev server's product pages ask the carriers for shipping quotes.
        from checker.services import ensure_up_or_exit

        ensure_up_or_exit(carriers=sys.argv[1] == "runserver")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
