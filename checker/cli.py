"""Moved to `checker.course.cli`; this path keeps older imports working."""

from checker.course.cli import (
    build_parser as build_parser,
)
from checker.course.cli import (
    main as main,
)

if __name__ == "__main__":
    import sys

    sys.exit(main())
