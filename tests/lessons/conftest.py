"""Scratch copies of the shop at each step of lessons 1-3, graded for real."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from checker.harness.runner import ExerciseOutcome, Target, run_exercises
from checker.manifest import Course, load_course
from checker.services import database_url, drop_database, service_urls

REPO = Path(__file__).resolve().parents[2]
LESSONS = ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11")
# The exercises of those lessons, in course order, known when tests are collected.
COURSE_EXERCISES = [e for e in load_course(REPO).exercises if e.lesson in LESSONS]


@pytest.fixture(scope="session")
def course() -> Course:
    """Return the course manifest of this repository."""
    return load_course(REPO)


@pytest.fixture(scope="session")
def exercises() -> list:
    """Return the exercises of the finished lessons, in course order."""
    return COURSE_EXERCISES


def shop_copy(root: Path, patches: list[str]) -> Path:
    """Copy the shop and the manifest to `root`, then apply `patches` in order."""
    shutil.copytree(
        REPO / "shop_app",
        root / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "media"),
    )
    shutil.copy(REPO / "course.toml", root / "course.toml")
    for patch in patches:
        applied = subprocess.run(
            ["git", "apply", "-p1", str(REPO / patch)],
            cwd=root,
            capture_output=True,
            text=True,
        )
        assert applied.returncode == 0, f"{patch} does not apply: {applied.stderr}"
    return root


Grade = Callable[[Path, list], list[ExerciseOutcome]]
# One piece taken out of a reference fix: (file, pattern, replacement).
Break = tuple[str, str, str]


def graded_with_breaks(
    root: Path,
    grade: Grade,
    course: Course,
    upto: str,
    chosen: Sequence[str],
    breaks: Sequence[Break] = (),
) -> dict[str, dict]:
    """Grade `chosen` on a copy patched up to exercise `upto`, pieces taken out.

    Returns each exercise's budgets by name. Every pattern must match: a break
    that changes nothing would prove nothing.
    """
    ids = [e.id for e in course.exercises]
    patches = [e.solution for e in course.exercises[: ids.index(upto) + 1]]
    shop_copy(root, patches)
    for relative, pattern, replacement in breaks:
        path = root / relative
        text, count = re.subn(pattern, replacement, path.read_text(), flags=re.M)
        assert count, f"{pattern!r} not found in {relative}"
        path.write_text(text)
    exercises = [e for e in course.exercises if e.id in chosen]
    return {o.id: {b.budget: b for b in o.budgets} for o in grade(root, exercises)}


@pytest.fixture(scope="package")
def grade() -> Iterator[Grade]:
    """Return a function grading exercises on a scratch shop, one database each run.

    Every run of the package shares one test database, kept between runs
    (`--reuse-db`) and dropped at the end; the name carries the process id
    so two suites running at once never share it.
    """
    name = f"lessons_{os.getpid()}"
    runs = iter(range(1_000))

    def grade_on(root: Path, chosen: list) -> list[ExerciseOutcome]:
        env = {
            "DATABASE_URL": database_url(name),
            "REDIS_URL": service_urls().redis,
            "CELERY_BROKER_URL": service_urls().broker,
            "CACHE_KEY_PREFIX": f"{name}_{next(runs)}",
        }
        return run_exercises(chosen, Target(root, env), extra_args=["--reuse-db"])

    yield grade_on
    drop_database(f"test_{name}")
