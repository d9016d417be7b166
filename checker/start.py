"""Moved to `checker.course.start`; this path keeps older imports working."""

from checker.course.start import (
    DEFAULT_SCALE as DEFAULT_SCALE,
)
from checker.course.start import (
    SeedState as SeedState,
)
from checker.course.start import (
    seed as seed,
)
from checker.course.start import (
    start as start,
)
