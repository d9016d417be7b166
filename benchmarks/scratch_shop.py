"""Scratch copies of the shop for the lesson benchmarks: patched, then migrated.

A benchmark imports this from its own folder, which is on sys.path when it
runs as a script; the course's packages are put there too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker.course.manifest import load_course  # noqa: E402
from checker.harness.runner import ExerciseOutcome, Target, run_exercises  # noqa: E402
from checker.services import create_database, database_url, service_urls  # noqa: E402


def lesson_patches(lesson: str) -> tuple[list[str], list[str]]:
    """Return the solutions of the lessons before `lesson`, and its own."""
    course = load_course(REPO)
    earlier = [e.solution for e in course.exercises if e.lesson < lesson]
    own = [e.solution for e in course.exercises if e.lesson == lesson]
    return earlier, own


def shop_copy(root: Path, patches: list[str]) -> Path:
    """Copy the shop and the manifest to `root`, then apply `patches` in order."""
    shutil.copytree(
        REPO / "shop_app",
        root / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "media"),
    )
    shutil.copy(REPO / "course.toml", root / "course.toml")
    for patch in patches:
        subprocess.run(["git", "apply", "-p1", str(REPO / patch)], cwd=root, check=True)
    return root


def shop_migrate(root: Path, name: str) -> str:
    """Migrate the shop at `root` into a fresh database `name`; return its URL."""
    url = create_database(name, fresh=True)
    subprocess.run(
        [sys.executable, "shop_app/manage.py", "migrate", "-v", "0"],
        cwd=root,
        env={
            **os.environ,
            "DATABASE_URL": url,
            "PYTHONPATH": str(root / "shop_app"),
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
        },
        check=True,
    )
    return url


def lesson_grade(root: Path, lesson: str, seed: int) -> list[ExerciseOutcome]:
    """Grade `lesson`'s exercises on the shop at `root` with the trusted tests."""
    urls = service_urls()
    name = f"lesson{int(lesson)}_graded"
    env = {
        "DATABASE_URL": database_url(name),
        "REDIS_URL": urls.redis,
        "CELERY_BROKER_URL": urls.broker,
        "CACHE_KEY_PREFIX": name,
    }
    chosen = [e for e in load_course(REPO).exercises if e.lesson == lesson]
    return run_exercises(chosen, Target(root, env, seed=seed))
