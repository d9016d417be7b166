"""Moved to `checker.course` (check, hints, notebooks); older imports still work."""

from checker.course.check import (
    check as check,
)
from checker.course.check import (
    check_target as check_target,
)
from checker.course.check import (
    current_exercise as current_exercise,
)
from checker.course.check import (
    overview as overview,
)
from checker.course.check import (
    progress_of as progress_of,
)
from checker.course.check import (
    progress_table as progress_table,
)
from checker.course.check import (
    run_checks as run_checks,
)
from checker.course.hints import (
    chosen_exercise as chosen_exercise,
)
from checker.course.hints import (
    hint as hint,
)
from checker.course.hints import (
    solution as solution,
)
