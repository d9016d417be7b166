"""A two-lesson miniature course on a copy of the shop, in a git clone of its own."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checker.services import service_urls

REPO = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=Learner", "-c", "user.email=l@example.com"]

MANIFEST = """
[course]
trusted = "trusted"

[[lessons]]
id = "01"
title = "The answer"
chapter = "lessons/01.md"
notebook = "notebooks/01.ipynb"

[[lessons.exercises]]
id = "01-answer"
title = "Give the answer"
files = ["shop_app/answer.py"]
hints = [
    "It is six times seven.",
    "Set ANSWER = 42 in shop_app/answer.py.",
]
solution = "solutions/01-answer.patch"
tests = "test_mini.py"
points = { answer = 2 }

[[lessons]]
id = "02"
title = "The greeting"
chapter = "lessons/02.md"
notebook = "notebooks/02.ipynb"

[[lessons.exercises]]
id = "02-greeting"
title = "Say hello"
files = ["shop_app/answer.py", "shop_app/catalog/migrations"]
hints = ["Say it."]
solution = "solutions/02-greeting.patch"
tests = "test_mini.py"
points = { greeting = 1 }
"""

TRUSTED = """
import pytest

import answer


@pytest.mark.exercise("01-answer", budget="answer")
def test_answer():
    assert answer.ANSWER == 42, f"ANSWER is {answer.ANSWER} (budget: exactly 42)"


@pytest.mark.exercise("02-greeting", budget="greeting")
def test_greeting():
    assert answer.GREETING == "hello", f"GREETING is {answer.GREETING!r}"
"""

ANSWER = 'ANSWER = 41\nGREETING = "hi"\n'

ANSWER_PATCH = """--- a/shop_app/answer.py
+++ b/shop_app/answer.py
@@ -1,2 +1,2 @@
-ANSWER = 41
+ANSWER = 42
 GREETING = "hi"
"""

# Lesson 02's solution also adds a migration, so that going back to lesson 01
# leaves the database with a migration the tree no longer has.
MIGRATION = """\
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE TABLE catalog_greeting_marker (id integer)",
            "DROP TABLE catalog_greeting_marker",
        )
    ]
"""

GREETING_PATCH = (
    """--- a/shop_app/answer.py
+++ b/shop_app/answer.py
@@ -1,2 +1,2 @@
 ANSWER = 42
-GREETING = "hi"
+GREETING = "hello"
"""
    + "--- /dev/null\n+++ b/shop_app/catalog/migrations/0002_greeting_marker.py\n"
    + f"@@ -0,0 +1,{len(MIGRATION.splitlines())} @@\n"
    + "".join(f"+{line}\n" if line else "+\n" for line in MIGRATION.splitlines())
)


def notebook(*sources):
    """Return a notebook of code cells, as nbformat writes it."""
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"cell{number}",
                    "metadata": {},
                    "outputs": [],
                    "source": source,
                }
                for number, source in enumerate(sources)
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


def write_course(root):
    """Write the miniature course's files under `root`."""
    shutil.copytree(
        REPO / "shop_app",
        root / "shop_app",
        ignore=shutil.ignore_patterns("__pycache__", "tests"),
    )
    (root / "shop_app" / "answer.py").write_text(ANSWER)
    (root / "course.toml").write_text(MANIFEST)
    (root / ".gitignore").write_text(".course/\n__pycache__/\n")
    (root / "trusted").mkdir()
    shutil.copy(
        REPO / "checker" / "trusted" / "inside" / "pytest.ini", root / "trusted"
    )
    (root / "trusted" / "test_mini.py").write_text(TRUSTED)
    (root / "solutions").mkdir()
    (root / "solutions" / "01-answer.patch").write_text(ANSWER_PATCH)
    (root / "solutions" / "02-greeting.patch").write_text(GREETING_PATCH)
    (root / "solutions" / "02-greeting.md").write_text(
        "Receipt: GREETING went from 'hi' to 'hello'.\n"
    )
    (root / "lessons").mkdir()
    (root / "lessons" / "01.md").write_text("# The answer\n\nFind the answer.\n")
    (root / "lessons" / "02.md").write_text("# The greeting\n\nGreet.\n")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "01.ipynb").write_text(
        notebook("import answer", "assert answer.ANSWER == 41, answer.ANSWER")
    )
    (root / "notebooks" / "02.ipynb").write_text(
        notebook(
            "import answer",
            "assert (answer.ANSWER, answer.GREETING) == (42, 'hi'), answer.GREETING",
        )
    )


def git(root, *args):
    """Run git in `root` as the learner and return its output."""
    done = subprocess.run(
        [*GIT, *args], cwd=root, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="session")
def upstream(tmp_path_factory):
    """Return the course's own repository: one commit, the naive start."""
    root = tmp_path_factory.mktemp("upstream") / "course"
    root.mkdir()
    write_course(root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Start the course")
    return root


@pytest.fixture
def clone(upstream, tmp_path):
    """Return a learner's fresh clone of the miniature course."""
    root = tmp_path / "learner"
    subprocess.run(
        ["git", "clone", "-q", str(upstream), str(root)], check=True, timeout=60
    )
    return root


@pytest.fixture
def course_env(clone, tmp_path):
    """Return the environment that points `course` at the clone."""
    urls = service_urls()
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return {
        **inherited,
        "COURSE_ROOT": str(clone),
        "COURSE_HOME": str(clone / ".course"),
        "DATABASE_URL": urls.database,
        "REDIS_URL": urls.redis,
        "CELERY_BROKER_URL": urls.broker,
        "CACHE_KEY_PREFIX": f"history-{tmp_path.name}",
        "COLUMNS": "200",
    }


@pytest.fixture
def course(clone, course_env):
    """Return a function that runs `course ARGS...` in the clone."""

    def run(*args, cwd=None, env=None):
        if cwd is not None and env is None:
            env = {"COURSE_ROOT": str(cwd)}
        return subprocess.run(
            [sys.executable, "-m", "checker.cli", *args],
            cwd=cwd or clone,
            env={**course_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run
