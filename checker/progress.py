"""Moved to `checker.course.progress`; this path keeps older imports working."""

from checker.course.progress import (
    Entry as Entry,
)
from checker.course.progress import (
    Progress as Progress,
)
from checker.course.progress import (
    files_digest as files_digest,
)
