"""Moved to `checker.course.notebooks`; this path keeps older imports working."""

from checker.course.notebooks import (
    KERNEL_NAME as KERNEL_NAME,
)
from checker.course.notebooks import (
    CheckReport as CheckReport,
)
from checker.course.notebooks import (
    check as check,
)
from checker.course.notebooks import (
    execute_notebook as execute_notebook,
)
from checker.course.notebooks import (
    install_kernelspec as install_kernelspec,
)
from checker.course.notebooks import (
    jupyter_path as jupyter_path,
)
