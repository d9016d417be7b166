"""A miniature course around a copy of the shop, driven through `course`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checker.services import service_urls

REPO = Path(__file__).resolve().parents[2]

MANIFEST = """
[course]
trusted = "trusted"

[[lessons]]
id = "00"
title = "Warm-up"
chapter = "lessons/00.md"
notebook = "notebooks/00.ipynb"

[[lessons.exercises]]
id = "00-answer"
title = "Give the answer"
files = ["shop_app/answer.py"]
hints = ["Read the question again.", "It is six times seven.", "Set ANSWER = 42."]
solution = "solutions/00-answer.patch"
tests = "test_warmup.py"
points = { answer = 2 }

[[lessons.exercises]]
id = "00-greeting"
title = "Say hello"
files = ["shop_app/answer.py"]
hints = ["Say it."]
solution = "solutions/00-greeting.patch"
tests = "test_warmup.py"
points = { greeting = 1 }
"""

TRUSTED = """
import pytest

import answer


@pytest.mark.exercise("00-answer", budget="answer")
def test_answer():
    assert answer.ANSWER == 42, f"ANSWER is {answer.ANSWER} (budget: exactly 42)"


@pytest.mark.exercise("00-greeting", budget="greeting")
def test_greeting():
    assert answer.GREETING == "hello", f"GREETING is {answer.GREETING!r}"
"""

PATCH = """--- a/shop_app/answer.py
+++ b/shop_app/answer.py
@@ -1,2 +1,2 @@
-ANSWER = 41
+ANSWER = 42
 GREETING = "hi"
"""


@pytest.fixture
def course_root(tmp_path):
    """Return a git checkout of a two-exercise course on a copy of the shop."""
    root = tmp_path / "learner"
    shutil.copytree(
        REPO / "shop_app",
        root / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "tests"),
    )
    (root / "shop_app" / "answer.py").write_text('ANSWER = 41\nGREETING = "hi"\n')
    (root / "course.toml").write_text(MANIFEST)
    (root / "trusted").mkdir()
    shutil.copy(
        REPO / "checker" / "trusted" / "inside" / "pytest.ini", root / "trusted"
    )
    (root / "trusted" / "test_warmup.py").write_text(TRUSTED)
    (root / "solutions").mkdir()
    (root / "solutions" / "00-answer.patch").write_text(PATCH)
    git = ["git", "-c", "user.name=Learner", "-c", "user.email=l@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "Start"], cwd=root, check=True)
    return root


@pytest.fixture
def course_env(course_root):
    """Return the environment that points `course` at the miniature course."""
    urls = service_urls()
    # pytest-django exported the suite's own settings module; `course` picks its own.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return {
        **inherited,
        "COURSE_ROOT": str(course_root),
        "COURSE_HOME": str(course_root / ".course"),
        # The servers already running serve the miniature course too.
        "DATABASE_URL": urls.database,
        "REDIS_URL": urls.redis,
        "CELERY_BROKER_URL": urls.broker,
        "COLUMNS": "160",
    }


@pytest.fixture
def course(course_root, course_env):
    """Return a function that runs `course ARGS...` and returns the finished process."""

    def run(*args, stdin=""):
        return subprocess.run(
            [sys.executable, "-m", "checker.cli", *args],
            cwd=course_root,
            env=course_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run
