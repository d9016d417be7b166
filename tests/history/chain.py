"""Check a built tag chain: the checker's verdict and the notebooks at every tag."""

import os
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import nbformat

from checker.harness.runner import Target, run_exercises
from checker.history.chain import SOLVED, lesson_tag
from checker.manifest import load_course
from checker.notebooks import execute_notebook
from checker.services import database_url, service_urls

NOTEBOOK_SETTINGS = "config.settings.dev"


def chain_env(database):
    """Return the services a checker run at a tag uses, on a database of its own."""
    urls = service_urls()
    return {
        "DATABASE_URL": database_url(database),
        "REDIS_URL": urls.redis,
        "CELERY_BROKER_URL": urls.broker,
        "CACHE_KEY_PREFIX": database,
    }


def check_out_tag(clone, tag, folder):
    """Check `tag` out into a worktree of its own at `folder` and return it."""
    subprocess.run(
        ["git", "worktree", "add", "--quiet", "--detach", str(folder), tag],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    return Path(folder)


def expected_statuses(course, tag, lessons=None):
    """Return each exercise's status at `tag`: passed before its lesson, else failed.

    `lessons`, a set of lesson ids, keeps only their exercises.
    """
    tags = [lesson_tag(lesson.id) for lesson in course.lessons]
    position = len(tags) if tag == SOLVED else tags.index(tag)
    return {
        exercise.id: (
            "passed" if tags.index(lesson_tag(exercise.lesson)) < position else "failed"
        )
        for exercise in course.exercises
        if lessons is None or exercise.lesson in lessons
    }


def verdicts(tree, database, lessons=None):
    """Grade the exercises of the course on `tree` (of `lessons` only, if given).

    Return id -> status, and id -> reasons.
    """
    course = load_course(tree)
    outcomes = run_exercises(
        [e for e in course.exercises if lessons is None or e.lesson in lessons],
        Target(tree, chain_env(database)),
        trusted=course.trusted,
    )
    statuses = {outcome.id: outcome.status for outcome in outcomes}
    reasons = {
        outcome.id: outcome.reason or [b.message for b in outcome.budgets]
        for outcome in outcomes
    }
    return statuses, reasons


def _notebook_env(tree, database, home):
    """Return what a notebook of `tree` runs with, on a database of its own."""
    return {
        **chain_env(database),
        "COURSE_ROOT": str(tree),
        # The kernelspec and the progress of a notebook's check() stay out of
        # the developer's own .course/.
        "COURSE_HOME": str(home),
        "DJANGO_SETTINGS_MODULE": NOTEBOOK_SETTINGS,
    }


def run_notebook(tree, notebook, monkeypatch, database, home):
    """Execute a notebook of `tree` in the shell_plus kernel, on that tree's shop."""
    for name, value in _notebook_env(tree, database, home).items():
        monkeypatch.setenv(name, value)
    return execute_notebook(tree / notebook, settings=NOTEBOOK_SETTINGS)


# Run by notebook_process() in a child: each notebook gets an environment and a
# kernelspec of its own, so that two can run at once.
_EXECUTE = """
import sys
from pathlib import Path

import nbformat

from checker.notebooks import execute_notebook

notebook, settings, out = sys.argv[1:]
nbformat.write(execute_notebook(Path(notebook), settings=settings), out)
"""


def notebook_process(tree, notebook, database, home):
    """Execute a notebook of `tree` as run_notebook() does, in a child process."""
    Path(home).mkdir(parents=True, exist_ok=True)
    out = Path(home) / "executed.ipynb"
    done = subprocess.run(
        [sys.executable, "-c", _EXECUTE, str(tree / notebook), NOTEBOOK_SETTINGS, out],
        env={**os.environ, **_notebook_env(tree, database, home)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"{notebook} at {tree}:\n{done.stderr[-4000:]}"
    return nbformat.read(out, as_version=4)


def plots(cells):
    """Return the images a notebook's executed cells drew."""
    return [
        output
        for cell in cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


@cache
def committed_lessons(repo):
    """Return the ids of the lessons `repo` has committed, or why it has no chain."""
    repository = subprocess.run(
        ["git", "rev-parse", "--git-dir"], cwd=repo, capture_output=True
    )
    if repository.returncode != 0:
        return [], "this checkout is not a git repository, so it has no tags"
    shown = subprocess.run(
        ["git", "show", "HEAD:course.toml"], cwd=repo, capture_output=True
    )
    if shown.returncode != 0:
        return [], (
            "course.toml is not committed yet; test_chain.py proves the chain on"
            " the miniature course meanwhile"
        )
    lessons = tomllib.loads(shown.stdout.decode())["lessons"]
    for lesson in lessons:
        for exercise in lesson.get("exercises", []):
            found = subprocess.run(
                ["git", "cat-file", "-e", f"HEAD:{exercise['solution']}"],
                cwd=repo,
                capture_output=True,
            )
            if found.returncode != 0:
                return [], (
                    f"{exercise['solution']} is not in this checkout (a student"
                    " edition has none): its lesson tags come ready-made"
                )
    return [lesson["id"] for lesson in lessons], ""
