"""`course notebook`: Jupyter Lab starts, as root too, with the learner's options."""

import os
import selectors
import signal
import subprocess
import sys
import time

from tests.history.conftest import notebook


def _read_until(process, wanted, timeout):
    """Return the output up to the line holding `wanted`, or all of it on exit."""
    seen, deadline = [], time.monotonic() + timeout
    with selectors.DefaultSelector() as waiting:
        waiting.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not waiting.select(timeout=1):
                continue
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if wanted in line:
                break
    return "".join(seen)


def test_notebook_starts_jupyter_with_the_options_given_even_as_root(
    course_root, course_env
):
    (course_root / "notebooks").mkdir()
    (course_root / "notebooks" / "00.ipynb").write_text(notebook("1 + 1"))
    jupyter = ["--no-browser", "--port=0", "--ServerApp.base_url=/course-test/"]
    process = subprocess.Popen(
        [sys.executable, "-m", "checker.cli", "notebook", "0", *jupyter],
        cwd=course_root,
        env={**course_env, "HOME": str(course_root / ".home")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = _read_until(process, "/course-test/lab?token=", timeout=120)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)

    assert "Running as root is not recommended" not in output
    assert "/course-test/lab?token=" in output, output
    assert f"local directory: {course_root / 'notebooks'}" in output
    if os.geteuid() == 0:
        assert "Running as root: starting Jupyter with --allow-root." in output


def test_notebook_names_the_known_lessons(course):
    result = course("notebook", "7")

    assert result.returncode == 2
    assert "No lesson '7'. Known lessons: 00." in result.stdout


def test_other_commands_still_refuse_unknown_options(course):
    result = course("hint", "00-answer", "--frobnicate")

    assert result.returncode == 2
    assert "unrecognized arguments: --frobnicate" in result.stderr
