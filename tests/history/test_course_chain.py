"""The real course's tag chain, built in a clone of this repository's HEAD.

At `lesson-NN` every exercise of the lessons before passes and every other
one fails; at `course-solved` all pass; each lesson's notebook runs on its
own tag. The lessons are whatever the committed `course.toml` lists.
"""

import os
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor

import pytest

from checker.history.chain import SOLVED, lesson_tag
from checker.history.git import Git
from checker.history.tags import make_tags
from checker.manifest import load_course
from tests.history.chain import (
    chain_env,
    check_out_tag,
    expected_statuses,
    run_notebook,
    verdicts,
)
from tests.history.conftest import REPO


def _committed_lessons():
    shown = subprocess.run(
        ["git", "show", "HEAD:course.toml"], cwd=REPO, capture_output=True
    )
    if shown.returncode != 0:
        return []
    return [entry["id"] for entry in tomllib.loads(shown.stdout.decode())["lessons"]]


LESSONS = _committed_lessons()
TAGS = [*(lesson_tag(lesson) for lesson in LESSONS), SOLVED] if LESSONS else [None]

pytestmark = pytest.mark.skipif(
    not LESSONS,
    reason="course.toml is not committed yet; test_chain.py proves the chain on"
    " the miniature course meanwhile",
)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Return a clone of this repository's HEAD with the lesson tags built."""
    clone = tmp_path_factory.mktemp("course-chain") / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    make_tags(Git(clone))
    return clone


@pytest.fixture(scope="module")
def graded(chain, tmp_path_factory):
    """Grade every exercise at every tag, two tags at a time; return tag -> verdicts."""
    trees = tmp_path_factory.mktemp("course-trees")

    def grade(tag):
        tree = check_out_tag(chain, tag, trees / tag)
        return verdicts(tree, f"history_{os.getpid()}_{tag.replace('-', '_')}")

    # Each run is a child process on a database of its own: two cores, two runs.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(TAGS, pool.map(grade, TAGS), strict=True))


@pytest.mark.parametrize("tag", TAGS)
def test_at_each_tag_earlier_lessons_pass_and_the_rest_fail(chain, graded, tag):
    statuses, reasons = graded[tag]

    assert statuses == expected_statuses(load_course(chain), tag), reasons


def _seed(tree, database):
    """Migrate and seed the tiny data set into `database` with the tree's shop."""
    env = {
        **os.environ,
        **chain_env(database),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "COURSE_ROOT": str(tree),
    }
    for command in (
        ["migrate", "-v0"],
        ["seed_shop", "--scale", "tiny", "--no-progress"],
    ):
        subprocess.run(
            [sys.executable, "shop_app/manage.py", *command],
            cwd=tree,
            env=env,
            check=True,
            capture_output=True,
        )


@pytest.mark.parametrize("lesson", LESSONS or [None])
def test_each_lessons_notebook_runs_on_its_tag(chain, lesson, tmp_path, monkeypatch):
    tree = check_out_tag(chain, lesson_tag(lesson), tmp_path / lesson)
    [notebook] = [
        item.notebook for item in load_course(tree).lessons if item.id == lesson
    ]
    if not (tree / notebook).exists():
        pytest.skip(f"{notebook} is not written yet")
    database = f"history_notebook_{os.getpid()}"
    _seed(tree, database)

    executed = run_notebook(tree, notebook, monkeypatch, database)

    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
