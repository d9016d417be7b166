"""Moved to `checker.course.manifest`; this path keeps older imports working."""

from checker.course.manifest import (
    MANIFEST as MANIFEST,
)
from checker.course.manifest import (
    Course as Course,
)
from checker.course.manifest import (
    Exercise as Exercise,
)
from checker.course.manifest import (
    Lesson as Lesson,
)
from checker.course.manifest import (
    ManifestError as ManifestError,
)
from checker.course.manifest import (
    load_course as load_course,
)
